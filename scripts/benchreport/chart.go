package main

import (
	"bytes"
	"fmt"
	"math"
	"strings"
)

// Colours: the kernel's own tools, rkexec, RootlessKit.
const (
	colBase     = "#8c8c8c"
	colRkexec   = "#1f6fb4"
	colRootless = "#e07b24"
	chartWidth  = 960
)

type bar struct {
	label  string
	colour string
	cmd    *command
}

type barGroup struct {
	title string
	bars  []bar
}

func barGroups(r *results) []barGroup {
	mk := func(title string, cs []*command, items ...string) barGroup {
		g := barGroup{title: title}
		for i := 0; i+2 < len(items); i += 3 {
			if c := find(cs, items[i+1]); c != nil {
				g.bars = append(g.bars, bar{label: items[i], colour: items[i+2], cmd: c})
			}
		}
		return g
	}
	var portR, portK string
	for _, c := range r.ports {
		if strings.HasPrefix(c.name, "rkexec") {
			portR = c.name
		} else {
			portK = c.name
		}
	}
	groups := []barGroup{
		mk("-- true", r.start,
			"unshare -Ur", unshareFloor, colBase,
			"unshare --map-root-user --map-auto", unshareHost, colBase,
			"rkexec", rkexecHost, colRkexec,
			"rootlesskit", rootlessHost, colRootless),
		mk("--pidns -- true", r.start,
			"unshare … --pid --fork --mount-proc", unsharePidns, colBase,
			"rkexec --pidns", rkexecPidns, colRkexec,
			"rootlesskit --pidns", rootlessPidns, colRootless),
		mk("--net=slirp4netns --copy-up=/etc -- true", r.start,
			"rkexec", rkexecSlirp, colRkexec,
			"rootlesskit", rootlessSlirp, colRootless),
		mk("… --port-driver=builtin -p 127.0.0.1:18080:80/tcp -- true", r.ports,
			"rkexec", portR, colRkexec,
			"rootlesskit", portK, colRootless),
		mk("exec into a running --pidns sandbox (RootlessKit has no exec)", r.exec,
			"nsenter -U -m -p -t PID", nsenterExec, colBase,
			"rkexec exec NAME", rkexecExec, colRkexec),
	}
	var out []barGroup
	for _, g := range groups {
		if len(g.bars) > 0 {
			out = append(out, g)
		}
	}
	return out
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// svg draws start-up latency per tool (median bars, the middle half of the runs as a whisker) and the
// concurrency curve.
func svg(r *results) string {
	var body bytes.Buffer
	y := 0.0
	if groups := barGroups(r); len(groups) > 0 {
		y = latencyPanel(&body, groups, y)
	}
	if len(r.burst) > 0 {
		y = burstPanel(&body, r, y+20)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="sans-serif" font-size="12">`+"\n",
		chartWidth, y+30, chartWidth, y+30)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	b.Write(body.Bytes())
	date, commit := r.meta["date"], r.meta["commit"]
	fmt.Fprintf(&b, `<text x="10" y="%.0f" fill="#555">make bench, %s, rkexec %s, RootlessKit %s, %s cores: %s</text>`+"\n",
		y+20, esc(date), esc(commit), esc(r.meta["rootlesskit"]), esc(r.meta["cores"]), esc(r.meta["cpu"]))
	b.WriteString("</svg>\n")
	return b.String()
}

func latencyPanel(b *bytes.Buffer, groups []barGroup, y0 float64) float64 {
	const left, barH, gap, valueW = 270.0, 16.0, 6.0, 90.0
	width := chartWidth - left - valueW - 10
	maxMs := 0.0
	for _, g := range groups {
		for _, x := range g.bars {
			maxMs = max(maxMs, quantile(x.cmd.times, 0.75)*1000)
		}
	}
	if maxMs == 0 {
		maxMs = 1
	}
	y := y0 + 24
	fmt.Fprintf(b, `<text x="10" y="%.0f" font-size="15" font-weight="bold">Start-up latency: median of the runs, ms (whisker: the middle half of the runs); shorter is better</text>`+"\n", y)
	y += 12
	for _, g := range groups {
		y += 16
		fmt.Fprintf(b, `<text x="10" y="%.0f" font-weight="bold">%s</text>`+"\n", y, esc(g.title))
		y += 6
		for _, x := range g.bars {
			med := x.cmd.median() * 1000
			lo, hi := quantile(x.cmd.times, 0.25)*1000, quantile(x.cmd.times, 0.75)*1000
			w := med / maxMs * width
			fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="end">%s</text>`+"\n", left-8, y+barH-4, esc(x.label))
			fmt.Fprintf(b, `<rect x="%.0f" y="%.0f" width="%.1f" height="%.0f" fill="%s"/>`+"\n", left, y, w, barH, x.colour)
			wy := y + barH/2
			fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#222" stroke-width="1"/>`+"\n",
				left+lo/maxMs*width, wy, left+hi/maxMs*width, wy)
			fmt.Fprintf(b, `<text x="%.1f" y="%.0f">%.1f ms</text>`+"\n", left+math.Max(w, hi/maxMs*width)+6, y+barH-4, med)
			y += barH + gap
		}
	}
	return y
}

func burstPanel(b *bytes.Buffer, r *results, y0 float64) float64 {
	const left, plotH = 80.0, 260.0
	plotW := chartWidth - left - 200
	ns := burstNs(r.burst)
	y := y0 + 24
	fmt.Fprintf(b, `<text x="10" y="%.0f" font-size="15" font-weight="bold">Concurrent start-up: sandboxes per second when N start at once (best round); higher is better</text>`+"\n", y)
	top := y + 20
	bottom := top + plotH
	type series struct {
		tool, colour string
		pts          []burstRow
	}
	all := []series{{"rkexec", colRkexec, nil}, {"rootlesskit", colRootless, nil}}
	maxRate := 0.0
	for i := range all {
		for _, n := range ns {
			if best, _, ok := bestBurst(r.burst, all[i].tool, n); ok {
				all[i].pts = append(all[i].pts, best)
				maxRate = max(maxRate, best.rate)
			}
		}
	}
	yMax := niceCeil(maxRate * 1.15)
	maxN := float64(ns[len(ns)-1])
	xOf := func(n int) float64 {
		if maxN <= 1 {
			return left + plotW/2
		}
		return left + math.Log10(float64(n))/math.Log10(maxN)*plotW
	}
	yOf := func(v float64) float64 { return bottom - v/yMax*plotH }
	// Axes and grid.
	fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#222"/>`+"\n", left, bottom, left+plotW, bottom)
	fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#222"/>`+"\n", left, top, left, bottom)
	for i := 0; i <= 5; i++ {
		v := yMax * float64(i) / 5
		fmt.Fprintf(b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/>`+"\n", left, yOf(v), left+plotW, yOf(v))
		fmt.Fprintf(b, `<text x="%.0f" y="%.1f" text-anchor="end">%g</text>`+"\n", left-6, yOf(v)+4, v)
	}
	for _, n := range ns {
		fmt.Fprintf(b, `<text x="%.1f" y="%.0f" text-anchor="middle">N = %d</text>`+"\n", xOf(n), bottom+16, n)
	}
	fmt.Fprintf(b, `<text x="20" y="%.0f" transform="rotate(-90 20 %.0f)" text-anchor="middle">sandboxes/s</text>`+"\n",
		(top+bottom)/2, (top+bottom)/2)
	// Linear scaling from rkexec's N=1, as far as the plot reaches.
	if len(all[0].pts) > 0 && all[0].pts[0].n == 1 && len(ns) > 1 {
		one := all[0].pts[0].rate
		nEnd := math.Min(maxN, yMax/one)
		var pts []string
		for k := 0; k <= 40; k++ {
			n := math.Pow(nEnd, float64(k)/40)
			pts = append(pts, fmt.Sprintf("%.1f %.1f", left+math.Log10(n)/math.Log10(maxN)*plotW, yOf(n*one)))
		}
		fmt.Fprintf(b, `<path d="M%s" fill="none" stroke="%s" stroke-dasharray="4 4" stroke-width="1"/>`+"\n", strings.Join(pts, " L"), colRkexec)
	}
	for _, s := range all {
		var pts []string
		for _, p := range s.pts {
			pts = append(pts, fmt.Sprintf("%.1f %.1f", xOf(p.n), yOf(p.rate)))
		}
		if len(pts) == 0 {
			continue
		}
		fmt.Fprintf(b, `<path d="M%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(pts, " L"), s.colour)
		for _, p := range s.pts {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>`+"\n", xOf(p.n), yOf(p.rate), s.colour)
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="%s">%.0f/s, CPUs %.0f%%</text>`+"\n", xOf(p.n)+7, yOf(p.rate)-6, s.colour, p.rate, 100*p.busy)
		}
	}
	// Legend, under the axis.
	lx, ly := left, bottom+36
	for _, s := range all {
		fmt.Fprintf(b, `<rect x="%.0f" y="%.0f" width="14" height="4" fill="%s"/><text x="%.0f" y="%.0f">%s</text>`+"\n",
			lx, ly-4, s.colour, lx+20, ly, s.tool)
		lx += 140
	}
	fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-dasharray="4 4"/><text x="%.0f" y="%.0f">N × rkexec's rate at N=1 (linear scaling)</text>`+"\n",
		lx, ly-2, lx+14, ly-2, colRkexec, lx+20, ly)
	return ly + 10
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}
