//go:build !race

package activate

const raceEnabled = false
