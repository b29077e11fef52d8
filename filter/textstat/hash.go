package textstat

// Hash returns a 64-bit FNV-1a hash of s, finished with a strong mixer so
// that its low bits index hash tables well. It is deterministic across
// runs and machines.
func Hash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return Mix(h)
}

// Mix is the splitmix64 finalizer.
func Mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// Combine folds the hash of the next element into a running sequence hash
// (order-sensitive).
func Combine(h, next uint64) uint64 { return Mix(h*0x9E3779B97F4A7C15 + next + 1) }

// Counter counts occurrences of 64-bit keys in an open-addressing table
// that is reused between documents (Reset keeps the memory). It remembers
// for each key the order in which it was first seen. Not safe for
// concurrent use.
type Counter struct {
	keys  []uint64
	count []int32
	first []int32
	mask  uint64
	n     int32
}

// Reset empties the counter and sizes it for about n distinct keys.
func (c *Counter) Reset(n int) {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	if cap(c.keys) >= size {
		c.keys = c.keys[:size]
		c.count = c.count[:size]
		c.first = c.first[:size]
		clear(c.keys)
	} else {
		c.keys = make([]uint64, size)
		c.count = make([]int32, size)
		c.first = make([]int32, size)
	}
	c.mask = uint64(size - 1)
	c.n = 0
}

// Add counts one occurrence of key and returns the key's count so far and
// the order (0, 1, 2...) in which the key was first added.
func (c *Counter) Add(key uint64) (count, first int32) {
	if key == 0 {
		key = 1 // 0 marks an empty slot
	}
	if int(c.n)*2 >= len(c.keys) {
		c.grow()
	}
	i := key & c.mask
	for {
		switch c.keys[i] {
		case key:
			c.count[i]++
			return c.count[i], c.first[i]
		case 0:
			c.keys[i] = key
			c.count[i] = 1
			c.first[i] = c.n
			c.n++
			return 1, c.first[i]
		}
		i = (i + 1) & c.mask
	}
}

// Get returns key's count.
func (c *Counter) Get(key uint64) int32 {
	if key == 0 {
		key = 1
	}
	if len(c.keys) == 0 {
		return 0
	}
	i := key & c.mask
	for {
		switch c.keys[i] {
		case key:
			return c.count[i]
		case 0:
			return 0
		}
		i = (i + 1) & c.mask
	}
}

func (c *Counter) grow() {
	keys, count, first := c.keys, c.count, c.first
	size := 2 * len(keys)
	if size < 16 {
		size = 16
	}
	c.keys = make([]uint64, size)
	c.count = make([]int32, size)
	c.first = make([]int32, size)
	c.mask = uint64(size - 1)
	for j, k := range keys {
		if k == 0 {
			continue
		}
		i := k & c.mask
		for c.keys[i] != 0 {
			i = (i + 1) & c.mask
		}
		c.keys[i], c.count[i], c.first[i] = k, count[j], first[j]
	}
}
