// Command benchreport turns the results of scripts/bench.sh into markdown tables, the targets of
// issues 10 and 12 (target, measured, holds), and an SVG chart of start-up latency per tool and of
// the concurrency curve. It prints the markdown; with -doc it also replaces the part of that file
// between the lines "<!-- bench:begin -->" and "<!-- bench:end -->" (the prose around them is left
// alone), and with -chart it writes the SVG there. It is a benchmark tool, not part of rkexec.
//
//	benchreport -in DIR [-doc docs/benchmarks.md -chart docs/benchmarks.svg]
//
// DIR holds what bench.sh wrote: meta.tsv (key, value), hyperfine's JSON per round (start.N.json,
// exec.N.json, ports.N.json), ports-failures.tsv, mem.tsv (memtree's lines with the tool and the
// sandbox in front), burst.tsv (burst's lines with the tool, N and the round in front) and net.tsv
// (key, value per round). A part that did not run is left out.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	in := flag.String("in", "", "directory with bench.sh's results")
	doc := flag.String("doc", "", "markdown file whose generated part to replace")
	chart := flag.String("chart", "", "SVG file to write")
	flag.Parse()
	if *in == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: benchreport -in DIR [-doc FILE.md] [-chart FILE.svg]")
		os.Exit(2)
	}
	if err := run(*in, *doc, *chart); err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
		os.Exit(1)
	}
}

func run(in, doc, chart string) error {
	res, err := load(in)
	if err != nil {
		return err
	}
	chartName := ""
	if chart != "" {
		chartName = filepath.Base(chart)
		if doc != "" {
			if rel, err := filepath.Rel(filepath.Dir(doc), chart); err == nil {
				chartName = rel
			}
		}
	}
	md := markdown(res, chartName)
	fmt.Print(md)
	if chart != "" {
		if err := os.WriteFile(chart, []byte(svg(res)), 0o644); err != nil {
			return fmt.Errorf("writing the chart: %w", err)
		}
		fmt.Fprintf(os.Stderr, "benchreport: wrote %s\n", chart)
	}
	if doc != "" {
		if err := replaceGenerated(doc, md); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "benchreport: wrote the tables into %s\n", doc)
	}
	return nil
}
