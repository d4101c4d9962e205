//go:build !unix

package kafkabridge_test

import "time"

// processCPU is not measured here: the CPU metrics of the benchmark read 0.
func processCPU() time.Duration { return 0 }
