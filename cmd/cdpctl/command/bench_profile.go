package command

import (
	"os"
	"runtime/pprof"
)

// cpuProfile profiles the process's CPU into path until the returned stop
// is called (the --cpuprofile flag of the benchmarks); an empty path
// profiles nothing.
func cpuProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
