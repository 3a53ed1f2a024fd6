package eval

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows done/total, rate, ETA and failures on stderr.
type progress interface {
	done(failed bool)
	finish()
}

// newProgress draws a bar on a terminal and otherwise writes a line per
// 5 % of the samples. already counts samples resumed from an earlier run.
func newProgress(w io.Writer, terminal bool, total, already, alreadyFailed int) progress {
	if w == nil || total == 0 {
		return noProgress{}
	}
	if terminal {
		bar := progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(describe(alreadyFailed)),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("samples"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
		_ = bar.Set(already)
		return &barProgress{bar: bar, failed: alreadyFailed}
	}
	return &lineProgress{w: w, total: total, count: already, failed: alreadyFailed, start: time.Now(), base: already,
		step: already * 20 / total}
}

func describe(failed int) string { return fmt.Sprintf("eval (%d failed)", failed) }

type noProgress struct{}

func (noProgress) done(bool) {}
func (noProgress) finish()   {}

type barProgress struct {
	bar    *progressbar.ProgressBar
	failed int
}

func (p *barProgress) done(failed bool) {
	if failed {
		p.failed++
		p.bar.Describe(describe(p.failed))
	}
	_ = p.bar.Add(1)
}

func (p *barProgress) finish() { _ = p.bar.Exit() }

// lineProgress writes "eval: 250/5000 (5%) …" each time another 5 % is
// done, for logs and pipes.
type lineProgress struct {
	w                  io.Writer
	total, count, base int
	failed, step       int
	start              time.Time
}

func (p *lineProgress) done(failed bool) {
	p.count++
	if failed {
		p.failed++
	}
	step := p.count * 20 / p.total
	if step == p.step {
		return
	}
	p.step = step
	elapsed := time.Since(p.start)
	rate := float64(p.count-p.base) / elapsed.Seconds()
	eta := "–"
	if rate > 0 {
		eta = time.Duration(float64(p.total-p.count) / rate * float64(time.Second)).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "eval: %d/%d samples (%d%%), %.2f samples/s, ETA %s, %d failed\n",
		p.count, p.total, 100*p.count/p.total, rate, eta, p.failed)
}

func (p *lineProgress) finish() {}
