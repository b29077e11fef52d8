package trainer

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/curatehq/curate/trainer/llama"
)

// CheckpointFile is the checkpoint's name inside the run's out folder.
const CheckpointFile = "checkpoint.bin"

// checkpointMagic opens every checkpoint file; the version follows it.
const checkpointMagic = "CURATECK"

const checkpointVersion = 1

// Checkpoint is everything a run needs to continue exactly where it was:
// the parameters, the optimizer's moments, the step, and the data loader's
// position and random state.
//
// On disk: magic, u32 version, u64 header length, the JSON header, then
// Params, M and V as little-endian float32, then the CRC-32C of everything
// before it.
type Checkpoint struct {
	Header CheckpointHeader
	Params []float32
	M, V   []float32
}

// CheckpointHeader is the JSON part of a checkpoint.
type CheckpointHeader struct {
	Model  llama.Config `json:"model"`
	Step   int          `json:"step"`
	Tokens int64        `json:"tokens"` // training tokens consumed
	Loader LoaderState  `json:"loader"`
	// Run identifies the data and settings the state belongs to, so a resume
	// with a changed config is refused instead of silently diverging.
	Run RunIdentity `json:"run"`
	// Tokenizer is the store's tokenizer name, for generation.
	Tokenizer string `json:"tokenizer,omitempty"`
	// ValLoss is the last evaluation's loss, absent before the first.
	ValLoss *float64 `json:"val_loss,omitempty"`
}

// RunIdentity is what must not change between a run and its resume.
type RunIdentity struct {
	DataTokens  int64   `json:"data_tokens"`
	BatchSize   int     `json:"batch_size"`
	Accumulate  int     `json:"accumulate"`
	Order       string  `json:"order"`
	Seed        uint64  `json:"seed"`
	Steps       int     `json:"steps"`
	LR          float64 `json:"lr"`
	Warmup      int     `json:"warmup"`
	WeightDecay float64 `json:"weight_decay"`
	GradClip    float64 `json:"grad_clip"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SaveCheckpoint writes c to path atomically: a temporary file in the same
// folder, synced, then renamed over the old checkpoint, so a crash leaves
// either the old or the new one.
func SaveCheckpoint(path string, c *Checkpoint) error {
	if err := saveState(path, checkpointMagic, c.Header, c.Params, c.M, c.V); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// saveState writes magic, u32 version, u64 header length, the JSON of hdr,
// the float slices little-endian and a CRC-32C of all that, atomically.
func saveState(path, magic string, header any, floats ...[]float32) (err error) {
	hdr, err := json.Marshal(header)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".checkpoint-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	crc := crc32.New(castagnoli)
	w := io.MultiWriter(f, crc)
	var head bytes.Buffer
	head.WriteString(magic)
	binary.Write(&head, binary.LittleEndian, uint32(checkpointVersion))
	binary.Write(&head, binary.LittleEndian, uint64(len(hdr)))
	head.Write(hdr)
	if _, err := w.Write(head.Bytes()); err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<20)
	for _, s := range floats {
		for i := 0; i < len(s); {
			buf = buf[:0]
			for ; i < len(s) && len(buf) < cap(buf); i++ {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(s[i]))
			}
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
	}
	if err := binary.Write(f, binary.LittleEndian, crc.Sum32()); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// parseState checks a saveState file and returns its JSON header and the
// float section, raw.
func parseState(b []byte, magic, what string) (hdr, floats []byte, err error) {
	fixed := len(magic) + 4 + 8
	if len(b) < fixed+4 || string(b[:len(magic)]) != magic {
		return nil, nil, fmt.Errorf("not a curate %s", what)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, nil, errors.New("checksum mismatch: the file is damaged or truncated")
	}
	if v := binary.LittleEndian.Uint32(b[len(magic):]); v != checkpointVersion {
		return nil, nil, fmt.Errorf("version %d, this build reads version %d", v, checkpointVersion)
	}
	hlen := binary.LittleEndian.Uint64(b[len(magic)+4:])
	if hlen > uint64(len(body)-fixed) {
		return nil, nil, errors.New("header length beyond the end of the file")
	}
	return body[fixed : fixed+int(hlen)], body[fixed+int(hlen):], nil
}

// decodeFloats splits little-endian float32 bytes into parts slices of n.
func decodeFloats(b []byte, n, parts int) ([][]float32, error) {
	if len(b) != parts*4*n {
		return nil, fmt.Errorf("%d bytes of state, want %d for %d parameters", len(b), parts*4*n, n)
	}
	all := make([]float32, parts*n)
	for i := range all {
		all[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	out := make([][]float32, parts)
	for p := range out {
		out[p] = all[p*n : (p+1)*n : (p+1)*n]
	}
	return out, nil
}

// LoadCheckpoint reads and verifies a checkpoint file.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	c, err := parseCheckpoint(b)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return c, nil
}

func parseCheckpoint(b []byte) (*Checkpoint, error) {
	hdr, floats, err := parseState(b, checkpointMagic, "checkpoint")
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{}
	if err := json.Unmarshal(hdr, &c.Header); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if err := c.Header.Model.Normalized().Validate(); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	parts, err := decodeFloats(floats, c.Header.Model.NumParams(), 3)
	if err != nil {
		return nil, err
	}
	c.Params, c.M, c.V = parts[0], parts[1], parts[2]
	return c, nil
}
