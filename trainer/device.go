package trainer

import (
	"errors"
	"fmt"
	"os"

	"github.com/curatehq/curate/trainer/blas"
)

// Device is where the model's arithmetic runs. Only the CPU exists today;
// a CUDA device would provide its own model implementation behind the same
// selection.
type Device struct {
	Name   string       // "cpu"
	Kernel *blas.Kernel // matrix products
}

// ErrNoCUDA is returned for device: cuda.
var ErrNoCUDA = errors.New("device: cuda: this build of curate has no CUDA backend; use device: cpu (or auto)")

// OpenDevice resolves device (auto | cpu | cuda) with threads workers
// (0 = every core). auto is the CPU.
func OpenDevice(device string, threads int) (*Device, error) {
	switch device {
	case "", "auto", "cpu":
		k, err := blas.New(blas.Auto, threads)
		if err != nil {
			return nil, fmt.Errorf("device: %w", err)
		}
		return &Device{Name: "cpu", Kernel: k}, nil
	case "cuda":
		if _, err := os.Stat("/dev/nvidia0"); err != nil {
			return nil, fmt.Errorf("device: cuda: no NVIDIA GPU found (/dev/nvidia0 is missing); use device: cpu (or auto)")
		}
		return nil, ErrNoCUDA
	}
	return nil, fmt.Errorf("device: %q is not one of auto, cpu, cuda", device)
}
