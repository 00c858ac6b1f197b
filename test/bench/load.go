package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// helloBody is what every benchmarked function answers.
const helloBody = "Hello, world!\n"

// newClient returns a keep-alive client that holds up to conns idle
// connections to one host.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// get makes one call and returns its latency, up to the last body byte. It
// fails on anything but 200 with the hello body.
func get(ctx context.Context, c *http.Client, url string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	d := time.Since(start)
	switch {
	case err != nil:
		return d, err
	case resp.StatusCode != http.StatusOK:
		return d, fmt.Errorf("HTTP %d: %s", resp.StatusCode, firstLine(body))
	case !bytes.Equal(body, []byte(helloBody)):
		return d, fmt.Errorf("unexpected body %q", firstLine(body))
	}
	return d, nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

// errTally counts errors by message.
type errTally map[string]int

func (t errTally) add(err error) {
	msg := err.Error()
	// Drop the varying local port of connection errors.
	if i := strings.Index(msg, "127.0.0.1:"); i >= 0 {
		msg = msg[:i] + "127.0.0.1"
	}
	t[msg]++
}

func (t errTally) total() int {
	n := 0
	for _, c := range t {
		n += c
	}
	return n
}

// String lists the most frequent errors.
func (t errTally) String() string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return t[keys[i]] > t[keys[j]] })
	var parts []string
	for i, k := range keys {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("%d more kinds", len(keys)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%d× %s", t[k], k))
	}
	return strings.Join(parts, "; ")
}

// sequential makes n calls one after another on c's one connection.
func sequential(ctx context.Context, c *http.Client, url string, n int, errs errTally) []time.Duration {
	lat := make([]time.Duration, 0, n)
	for range n {
		if ctx.Err() != nil {
			break
		}
		d, err := get(ctx, c, url)
		if err != nil {
			errs.add(err)
			continue
		}
		lat = append(lat, d)
	}
	return lat
}

// loadResult is one closed-loop load run.
type loadResult struct {
	Conns   int
	Elapsed time.Duration
	OK      int
	Errs    errTally
	Lat     []time.Duration // of the successful calls
}

// RPS is the rate of successful calls.
func (r loadResult) RPS() float64 { return float64(r.OK) / r.Elapsed.Seconds() }

// ErrPct is the share of failed calls in percent.
func (r loadResult) ErrPct() float64 {
	n := r.OK + r.Errs.total()
	if n == 0 {
		return 0
	}
	return 100 * float64(r.Errs.total()) / float64(n)
}

// merge adds up rounds of the same load.
func merge(rs ...loadResult) loadResult {
	m := loadResult{Errs: errTally{}}
	for _, r := range rs {
		m.Conns = r.Conns
		m.Elapsed += r.Elapsed
		m.OK += r.OK
		m.Lat = append(m.Lat, r.Lat...)
		for k, v := range r.Errs {
			m.Errs[k] += v
		}
	}
	return m
}

// closedLoop keeps conns connections busy with back-to-back calls for dur.
// Calls in flight at the end finish and count; Elapsed runs until the last
// one has. With live set it prints the rate every second.
func closedLoop(ctx context.Context, url string, conns int, dur time.Duration, live bool) loadResult {
	c := newClient(conns)
	defer c.CloseIdleConnections()
	var (
		mu      sync.Mutex
		res     = loadResult{Conns: conns, Errs: errTally{}}
		wg      sync.WaitGroup
		ok, bad atomic.Int64
	)
	start := time.Now()
	deadline := start.Add(dur)
	if live {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			last := int64(0)
			for {
				select {
				case <-stop:
					return
				case now := <-t.C:
					n := ok.Load()
					progress("  %4.1fs: %5d ok/s, %d errors so far", now.Sub(start).Seconds(), n-last, bad.Load())
					last = n
				}
			}
		}()
	}
	for range conns {
		wg.Go(func() {
			var lat []time.Duration
			errs := errTally{}
			for ctx.Err() == nil && time.Now().Before(deadline) {
				d, err := get(ctx, c, url)
				if err != nil {
					bad.Add(1)
					errs.add(err)
					continue
				}
				ok.Add(1)
				lat = append(lat, d)
			}
			mu.Lock()
			defer mu.Unlock()
			res.OK += len(lat)
			res.Lat = append(res.Lat, lat...)
			for k, v := range errs {
				res.Errs[k] += v
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res
}

// burst makes n calls at the same instant and returns each one's latency.
func burst(ctx context.Context, c *http.Client, url string, n int, errs errTally) []time.Duration {
	var (
		mu  sync.Mutex
		lat []time.Duration
		wg  sync.WaitGroup
	)
	gate := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-gate
			d, err := get(ctx, c, url)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs.add(err)
				return
			}
			lat = append(lat, d)
		})
	}
	time.Sleep(10 * time.Millisecond) // let every goroutine reach the gate
	close(gate)
	wg.Wait()
	return lat
}

// pct returns the p-th percentile (0 < p ≤ 100) by nearest rank.
func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(float64(len(s))*p/100)) - 1
	return s[max(0, min(i, len(s)-1))]
}
