package textstat

import "math/bits"

const (
	hashK1 = 0x9E3779B97F4A7C15
	hashK2 = 0xC2B2AE3D27D4EB4F
	hashK3 = 0x165667B19E3779F9
)

// Hash returns a 64-bit hash of s that is deterministic across runs and
// machines. It reads eight bytes at a time, so long lines hash at several
// GB/s and short words in a few nanoseconds.
func Hash(s string) uint64 {
	h := uint64(len(s)) * hashK3
	for len(s) >= 8 {
		k := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h = bits.RotateLeft64(h^(k*hashK2), 31) * hashK1
		s = s[8:]
	}
	if len(s) > 0 {
		var k uint64
		for i := 0; i < len(s); i++ {
			k |= uint64(s[i]) << (8 * i)
		}
		h = bits.RotateLeft64(h^(k*hashK2), 31) * hashK1
	}
	// Every step above is a bijection, so strings of up to eight bytes
	// never collide; the shift spreads the high bits into the low ones.
	return h ^ h>>29
}

// HashAt returns Hash(text[start:end]). A span of at most eight bytes with
// eight bytes of text from its start is read with one load and a mask: the
// common case for words.
func HashAt(text string, start, end int) uint64 {
	n := end - start
	if n > 8 || start+8 > len(text) {
		return Hash(text[start:end])
	}
	t := text[start : start+8]
	k := uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
		uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
	if n < 8 {
		k &= 1<<(8*uint(n)) - 1
	}
	h := uint64(n) * hashK3
	if n > 0 {
		h = bits.RotateLeft64(h^(k*hashK2), 31) * hashK1
	}
	return h ^ h>>29
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

// GramPrime is the multiplier of n-gram hashes: the hash of words
// w1..wn is ((w1·P + w2)·P + ...)·P + wn, so the n+1-gram hash at a
// position extends the n-gram hash there with one multiply-add.
const GramPrime = 0x100000001B3

// Counter counts occurrences of 64-bit keys in an open-addressing table
// that is reused between documents (Reset keeps the memory). It remembers
// for each key the order in which it was first seen. Keys are hashes: 0
// marks an empty slot, so keys 0 and 1 count as one key. Not safe for
// concurrent use.
type Counter struct {
	slots []slot
	shift uint
	n     int32
}

type slot struct {
	key   uint64
	count int32
	first int32
}

// Reset empties the counter and sizes it for about n distinct keys.
func (c *Counter) Reset(n int) {
	size, shift := 16, uint(60)
	for size < 2*n {
		size <<= 1
		shift--
	}
	if cap(c.slots) >= size {
		c.slots = c.slots[:size]
		clear(c.slots)
	} else {
		c.slots = make([]slot, size)
	}
	c.shift = shift
	c.n = 0
}

func (c *Counter) index(key uint64) uint64 { return (key * hashK1) >> c.shift }

// Add counts one occurrence of key and returns the key's count so far and
// the order (0, 1, 2...) in which the key was first added.
func (c *Counter) Add(key uint64) (count, first int32) {
	if key == 0 {
		key = 1 // 0 marks an empty slot
	}
	if len(c.slots) == 0 || int(c.n)*2 >= len(c.slots) {
		c.grow()
	}
	mask := uint64(len(c.slots) - 1)
	i := c.index(key)
	for {
		s := &c.slots[i]
		if s.key == key {
			s.count++
			return s.count, s.first
		}
		if s.key == 0 {
			*s = slot{key: key, count: 1, first: c.n}
			c.n++
			return 1, s.first
		}
		i = (i + 1) & mask
	}
}

// AddAt counts one occurrence of key like Add and returns the key's slot,
// whose final count CountAt reads after all keys are in. Slots stay valid
// only while the counter does not grow: Reset it for at least as many
// keys as will be added.
func (c *Counter) AddAt(key uint64) int32 {
	if key == 0 {
		key = 1
	}
	if len(c.slots) == 0 || int(c.n)*2 >= len(c.slots) {
		c.grow()
	}
	mask := uint64(len(c.slots) - 1)
	i := c.index(key)
	for {
		s := &c.slots[i]
		if s.key == key {
			s.count++
			return int32(i)
		}
		if s.key == 0 {
			*s = slot{key: key, count: 1, first: c.n}
			c.n++
			return int32(i)
		}
		i = (i + 1) & mask
	}
}

// CountAt returns the count of the key in a slot AddAt returned.
func (c *Counter) CountAt(slot int32) int32 { return c.slots[slot].count }

// FirstAt returns the first-seen order of the key in a slot.
func (c *Counter) FirstAt(slot int32) int32 { return c.slots[slot].first }

// Get returns key's count.
func (c *Counter) Get(key uint64) int32 {
	if key == 0 {
		key = 1
	}
	if len(c.slots) == 0 {
		return 0
	}
	mask := uint64(len(c.slots) - 1)
	for i := c.index(key); ; i = (i + 1) & mask {
		s := &c.slots[i]
		if s.key == key {
			return s.count
		}
		if s.key == 0 {
			return 0
		}
	}
}

func (c *Counter) grow() {
	old := c.slots
	if len(old) == 0 {
		c.Reset(8)
		return
	}
	c.slots = make([]slot, 2*len(old))
	c.shift--
	mask := uint64(len(c.slots) - 1)
	for _, s := range old {
		if s.key == 0 {
			continue
		}
		i := c.index(s.key)
		for c.slots[i].key != 0 {
			i = (i + 1) & mask
		}
		c.slots[i] = s
	}
}
