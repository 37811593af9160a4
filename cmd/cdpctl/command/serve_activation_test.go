package command

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestVMIdleAdvice(t *testing.T) {
	sys := func(driver, ns string) fstest.MapFS {
		m := fstest.MapFS{}
		if driver != "" {
			m["devices/system/cpu/cpuidle/current_driver"] = &fstest.MapFile{Data: []byte(driver + "\n")}
		}
		if ns != "" {
			m["module/haltpoll/parameters/guest_halt_poll_ns"] = &fstest.MapFile{Data: []byte(ns + "\n")}
		}
		return m
	}
	for _, c := range []struct {
		driver, ns string
		advice     bool
	}{
		{"haltpoll", "0", true},
		{"haltpoll", "200000", false}, // the guest polls before halting
		{"intel_idle", "", false},     // bare metal
		{"", "", false},               // no cpuidle (containers, other systems)
		{"haltpoll", "", false},
	} {
		got := vmIdleAdvice(sys(c.driver, c.ns))
		if (got != "") != c.advice || c.advice && !strings.Contains(got, "guest_halt_poll_ns") {
			t.Errorf("driver %q, guest_halt_poll_ns %q: advice %q", c.driver, c.ns, got)
		}
	}
}
