package main

// cubby bench: a load generator that drives a running cubby over HTTP, so
// that anyone can measure their own machine. It signs up its own users,
// runs one or more scenarios for a fixed time each, prints throughput and
// latency percentiles, and deletes its users again. Its users all sign up
// from one address, so the server must allow that many (--signup-limit 0).

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// benchOptions are the flags of bench.
type benchOptions struct {
	url         string
	users       int
	concurrency int
	duration    time.Duration
	scenarios   string
	// The targets mode (see benchtargets.go).
	targets bool
	burst   time.Duration
	spread  int
	rounds  int
	control bool
	// floorAddr is a floor served by another process (--serve-floor);
	// empty: floorProcess says whether bench runs one itself.
	floorAddr    string
	floorProcess bool
	serveFloor   string
	floorShape   string
}

// scenarios a bench run can name, in the order "all" runs them.
var benchScenarios = []string{"healthz", "read", "write-one", "write-many", "mixed"}

func defineBench(fs *flag.FlagSet, stdout, stderr io.Writer) runFunc {
	var o benchOptions
	fs.StringVar(&o.url, "url", "http://"+envOr("CUBBY_ADDR", "127.0.0.1:8080"), "base URL of a running cubby")
	fs.IntVar(&o.users, "users", 64,
		"users signed up for write-many and mixed (all from this address: serve with --signup-limit 0 or at least this many)")
	fs.IntVar(&o.concurrency, "concurrency", 64, "requests in flight at once")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each scenario runs")
	fs.StringVar(&o.scenarios, "scenario", "all",
		"comma-separated: healthz, read (one hot tenant), write-one (one user, all workers), write-many (a user per worker), mixed, or all")
	fs.BoolVar(&o.targets, "targets", false,
		"run issue 13's targets table instead of --scenario: a bare net/http floor in a process of its own and in this one, then healthz, "+
			"read, write-many (a --burst long), read-after-burst and read-spread, each as a ratio (serve with --max-open 64 --signup-limit 0)")
	fs.DurationVar(&o.burst, "burst", 5*time.Second, "with --targets: how long the write burst (write-many) runs")
	fs.IntVar(&o.spread, "spread-users", 200, "with --targets: users read-spread reads from, at random")
	fs.StringVar(&o.floorAddr, "floor-addr", "",
		"with --targets: HOST:PORT of a floor served by another process (cubby bench --serve-floor), instead of one bench starts")
	fs.BoolVar(&o.floorProcess, "floor-process", true,
		"with --targets: start the floor the targets are measured against in a process of its own (this binary, --serve-floor), as cubby is; "+
			"false: only the floor in this process is measured, and the targets' rows are left out")
	fs.StringVar(&o.serveFloor, "serve-floor", "",
		"serve only the floor (the bare net/http handler) on HOST:PORT until interrupted, for --floor-addr")
	fs.StringVar(&o.floorShape, "floor-shape", floorBare,
		"with --serve-floor: bare; server (with serve's http.Server timeouts); headers (and /healthz's answer headers, a request id, a write deadline)")
	fs.BoolVar(&o.control, "control", false,
		"with --targets: also run the hot read a second time straight after the first (read-again), and print read-again / read: "+
			"what two identical measurements differ by on this machine, beside read-after-burst / read")
	fs.IntVar(&o.rounds, "rounds", 1, "with --targets: rounds of the whole table, interleaved; ratios are reported per round and as medians")
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return &usageError{fmt.Sprintf("unexpected argument %q", args[0])}
		}
		names, err := o.scenarioList()
		if err != nil {
			return err
		}
		if o.serveFloor != "" {
			return serveFloor(ctx, o.serveFloor, o.floorShape, stderr)
		}
		if o.targets {
			return runTargets(ctx, o, stdout, stderr)
		}
		return runBench(ctx, o, names, stdout, stderr)
	}
}

func (o benchOptions) scenarioList() ([]string, error) {
	if o.users < 1 || o.concurrency < 1 || o.duration <= 0 || o.burst <= 0 || o.spread < 1 || o.rounds < 1 {
		return nil, &usageError{"--users, --concurrency, --duration, --burst, --spread-users and --rounds must be positive"}
	}
	if o.scenarios == "all" {
		return benchScenarios, nil
	}
	names := strings.Split(o.scenarios, ",")
	for _, n := range names {
		if !slices.Contains(benchScenarios, n) {
			return nil, &usageError{fmt.Sprintf("unknown scenario %q", n)}
		}
	}
	return names, nil
}

// benchResult is what one scenario measured.
type benchResult struct {
	name     string
	ok, errs int
	elapsed  time.Duration
	lat      []time.Duration
	firstErr error
	cpu      cpuUse
}

func (r benchResult) rps() float64 { return float64(r.ok) / r.elapsed.Seconds() }

func (r benchResult) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(float64(len(r.lat))*p))]
}

func runBench(ctx context.Context, o benchOptions, names []string, stdout, stderr io.Writer) error {
	if _, err := url.Parse(o.url); err != nil {
		return &usageError{fmt.Sprintf("bad --url: %v", err)}
	}
	users := max(o.users, 1)
	if !slices.ContainsFunc(names, func(n string) bool { return n != "healthz" }) {
		users = 0 // /healthz needs no account: this also benches a floor (--serve-floor)
	}
	fmt.Fprintf(stderr, "cubby bench: signing up %d users at %s (real password hashing: this takes a while)\n", users, o.url)
	pop, err := signupUsers(ctx, o.url, users)
	defer pop.cleanup(stderr)
	if err != nil {
		return err
	}
	var results []benchResult
	for _, name := range names {
		fmt.Fprintf(stderr, "cubby bench: %s for %s with %d in flight\n", name, o.duration, o.concurrency)
		r := pop.run(ctx, name, o, o.duration)
		results = append(results, r)
		if ctx.Err() != nil {
			break
		}
	}
	printBench(stdout, results)
	for _, r := range results {
		if r.firstErr != nil {
			return fmt.Errorf("%s: %d requests failed; first: %w", r.name, r.errs, r.firstErr)
		}
	}
	return nil
}

func printBench(w io.Writer, results []benchResult) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trequests\terrors\treq/s\tp50\tp90\tp99\tmax\tbench cpu\tmachine busy\tserver cpu/req\t")
	base := map[string]float64{}
	for _, r := range results {
		base[r.name] = r.rps()
		busy := "-"
		if r.cpu.busy >= 0 {
			busy = fmt.Sprintf("%.0f%%", 100*r.cpu.busy)
		}
		perReq := "-"
		if d, ok := r.cpu.restPerRequest(r.elapsed, r.ok); ok && r.name != "floor" {
			perReq = fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%.0f%%\t%s\t%s\t\n", r.name, r.ok, r.errs, r.rps(),
			round(r.pct(0.50)), round(r.pct(0.90)), round(r.pct(0.99)), round(r.pct(1)), 100*r.cpu.share(r.elapsed), busy, perReq)
	}
	tw.Flush()
	fmt.Fprintln(w, "bench cpu: this process's share of all cores (the load generator; on floor, the floor server too)")
	fmt.Fprintln(w, "server cpu/req: the rest of the machine's CPU per request (the server's, if nothing else runs)")
	if h, rd := base["healthz"], base["read"]; h > 0 && rd > 0 {
		fmt.Fprintf(w, "read / healthz:          %.2f×\n", rd/h)
	}
	if one, many := base["write-one"], base["write-many"]; one > 0 && many > 0 {
		fmt.Fprintf(w, "write-many / write-one:  %.2f×\n", many/one)
	}
}

func round(d time.Duration) time.Duration {
	if d > time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
