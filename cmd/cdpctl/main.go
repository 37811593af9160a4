// Command cdpctl runs and operates Tributary: the server, the embedded
// broker, batch jobs, SQL over the lake and identity tools.
package main

import (
	"errors"
	"os"

	"github.com/tributary-cdp/tributary/cmd/cdpctl/command"
)

func main() {
	if err := command.NewRoot().Execute(); err != nil {
		if se := (*command.SignalError)(nil); errors.As(err, &se) {
			os.Exit(se.ExitCode())
		}
		os.Exit(1)
	}
}
