package main_test

import (
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

// TestBenchSpeedConsumePrintsFigures runs the consume part of `cdpctl
// bench speed` small: it must print the three rates and a ratio that is
// theirs, over a store that holds the people the events are about.
func TestBenchSpeedConsumePrintsFigures(t *testing.T) {
	bin := testenv.Cdpctl(t)
	out, err := exec.Command(bin, "bench", "speed", "--only", "consume", "--events", "20000", "--profiles", "2000",
		"--rounds", "1", "--data-dir", t.TempDir(), "--log-level", "warn").CombinedOutput()
	if err != nil {
		t.Fatalf("bench speed: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^consume: raw FetchMessage (\d+) events/s, decoded (\d+) events/s, applied (\d+) events/s .*ratio applied/raw ([0-9.]+) .*decoded/raw ([0-9.]+)\)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no consume line in:\n%s", out)
	}
	f := func(i int) float64 {
		v, err := strconv.ParseFloat(string(m[i]), 64)
		if err != nil || v <= 0 {
			t.Fatalf("figure %q in %q is not positive", m[i], m[0])
		}
		return v
	}
	raw, decoded, applied := f(1), f(2), f(3)
	if got, want := f(4), applied/raw; math.Abs(got-want) > 0.006 {
		t.Errorf("ratio applied/raw printed %.2f, the rates give %.3f", got, want)
	}
	if got, want := f(5), decoded/raw; math.Abs(got-want) > 0.006 {
		t.Errorf("ratio decoded/raw printed %.2f, the rates give %.3f", got, want)
	}
	p := regexp.MustCompile(`(?m)^round 1: .* (\d+) profiles, (\d+) identifiers`).FindSubmatch(out)
	if p == nil {
		t.Fatalf("no round line in:\n%s", out)
	}
	// 2,000 people, some of them seen only under an anonymous id before an alias.
	if n, _ := strconv.Atoi(string(p[1])); n < 2000 || n > 3000 {
		t.Errorf("%d profiles for 2,000 people", n)
	}
}

// TestBenchSpeedRSSChecksItsCheckpoint runs the memory part small. Its
// child fails when the checkpoint written while it applied does not load
// as the store of the moment; here the printed ratio must be its rates'.
func TestBenchSpeedRSSChecksItsCheckpoint(t *testing.T) {
	bin := testenv.Cdpctl(t)
	out, err := exec.Command(bin, "bench", "speed", "--only", "rss", "--rss-profiles", "20000", "--log-level", "warn").CombinedOutput()
	if err != nil {
		t.Fatalf("bench speed: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^memory: 20000 profiles of 10 traits \(40000 identifiers, 20000 dedupe entries\)`).Match(out) {
		t.Errorf("no memory line for 20,000 profiles in:\n%s", out)
	}
	m := regexp.MustCompile(`(?m)^checkpoint of 20000 profiles, .* at (\d+)/s, ([0-9.]+) of its (\d+)/s without a checkpoint`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no checkpoint line in:\n%s", out)
	}
	during, _ := strconv.ParseFloat(string(m[1]), 64)
	ratio, _ := strconv.ParseFloat(string(m[2]), 64)
	base, _ := strconv.ParseFloat(string(m[3]), 64)
	if base <= 0 || math.Abs(ratio-during/base) > 0.006 {
		t.Errorf("printed %.2f for %.0f/s against %.0f/s", ratio, during, base)
	}
}
