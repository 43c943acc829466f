package main

// How much CPU a bench scenario took: the bench process's own (the load
// generator, and the floor server while the floor runs) from getrusage,
// and the whole machine's from /proc/stat where there is one, so that a
// run can say what share of the cores the load generator took from the
// server it measures.

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuUse is what a scenario used.
type cpuUse struct {
	self time.Duration // the bench process, user + system
	// busy is the machine's busy fraction over the scenario (0–1), or -1
	// when /proc/stat cannot be read.
	busy float64
}

// cpuMeter measures from its start to stop.
type cpuMeter struct {
	self        time.Duration
	busy, all   uint64
	haveMachine bool
}

func startCPUMeter() cpuMeter {
	m := cpuMeter{self: selfCPU()}
	m.busy, m.all, m.haveMachine = machineCPU()
	return m
}

func (m cpuMeter) stop() cpuUse {
	u := cpuUse{self: selfCPU() - m.self, busy: -1}
	if busy, all, ok := machineCPU(); ok && m.haveMachine && all > m.all {
		u.busy = float64(busy-m.busy) / float64(all-m.all)
	}
	return u
}

// share is the fraction of the machine's cores the bench process took
// over elapsed.
func (u cpuUse) share(elapsed time.Duration) float64 {
	return u.self.Seconds() / (elapsed.Seconds() * float64(runtime.NumCPU()))
}

// restPerRequest is the CPU the rest of the machine (the server measured,
// when nothing else runs) spent per request over elapsed: all cores' busy
// time less the bench process's own, over n requests. It is less noisy
// than req/s for comparing two servers, since it does not depend on how
// fast the load generator happened to run. ok is false when the machine's
// use is unknown or there were no requests.
func (u cpuUse) restPerRequest(elapsed time.Duration, n int) (_ time.Duration, ok bool) {
	if u.busy < 0 || n <= 0 {
		return 0, false
	}
	all := time.Duration(u.busy * float64(runtime.NumCPU()) * float64(elapsed))
	return max(all-u.self, 0) / time.Duration(n), true
}

// selfCPU is the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineCPU reads the busy and total ticks of all cores from /proc/stat.
func machineCPU() (busy, all uint64, ok bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0, false
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 6 || fields[0] != "cpu" {
		return 0, 0, false
	}
	var idle uint64
	for i, s := range fields[1:] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		all += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	return all - idle, all, true
}
