// Command cdpctl runs and operates Tributary: the server, the embedded
// broker, batch jobs, SQL over the lake and identity tools.
package main

import (
	"os"

	"github.com/tributary-cdp/tributary/cmd/cdpctl/command"
)

func main() {
	if err := command.NewRoot().Execute(); err != nil {
		os.Exit(1)
	}
}
