package activate

import (
	"fmt"
	"time"
)

// LoopConfig bounds the loop's connections.
type LoopConfig struct {
	// Threads is the number of event loops (threads); 0 means 1: one
	// thread answers tens of thousands of look-ups a second, and each more
	// wakes for requests that another, already awake, would have read.
	Threads int
	// MaxRequest bounds a request's head and body.
	MaxRequest int
	// ReadTimeout: a started request must arrive whole within it;
	// WriteTimeout: an answer must be taken by the client within it;
	// IdleTimeout: a connection without a request is closed after it.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
}

// DefaultLoopConfig has the limits of a GET API, as FastServer's.
func DefaultLoopConfig() LoopConfig {
	return LoopConfig{Threads: 1, MaxRequest: 8 << 10, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
}

// Validate checks the config.
func (c LoopConfig) Validate() error {
	if c.Threads < 0 || c.MaxRequest < 256 || c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0 {
		return fmt.Errorf("activation loop: config %+v: threads must not be negative, max request at least 256 bytes, timeouts positive", c)
	}
	return nil
}
