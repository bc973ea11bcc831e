"""Summarizes bench/run.sh's results.csv: medians per cell, the target ratios (docs/benchmarks.md), and a chart."""
import csv
import os
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict

csv_path, out_dir, conditions = sys.argv[1], sys.argv[2], sys.argv[3]
cells = defaultdict(list)
chosen = {}
with open(csv_path) as f:
    for row in csv.DictReader(f):
        key = (row["fs"], row["strategy"], row["cache"], row["order"])
        cells[key].append(float(row["gbps"]))
        if row["chosen"]:
            chosen[key] = row["chosen"]
median = {k: statistics.median(v) for k, v in cells.items()}

lines = [f"Conditions: {conditions}", "",
         "| fs | cache | order | dd limit GB/s | mmap | prefetch | direct | auto (chose) | best | auto/best |",
         "|---|---|---|---|---|---|---|---|---|---|"]
checks = []
for fs in sorted({k[0] for k in median}):
    for cache in ("cold", "warm"):
        dd = median.get((fs, "dd-direct" if cache == "cold" else "dd", cache, "file"))
        for order in ("file", "shuffled"):
            g = {s: median.get((fs, s, cache, order)) for s in ("mmap", "prefetch", "direct", "auto")}
            if g["auto"] is None:
                continue
            best = max(v for v in g.values() if v is not None)
            worst = min(v for v in g.values() if v is not None)
            ratio = g["auto"] / best
            fmt = lambda v: "-" if v is None else f"{v:.2f}"
            lines.append(f"| {fs} | {cache} | {order} | {fmt(dd)} | {fmt(g['mmap'])} | {fmt(g['prefetch'])} | "
                         f"{fmt(g['direct'])} | {fmt(g['auto'])} ({chosen.get((fs, 'auto', cache, order), '?')}) | "
                         f"{fmt(best)} | {ratio:.2f} |")
            checks.append((f"{fs} {cache} {order}: auto within 10% of best, never the worst",
                           ratio >= 0.90 and (g["auto"] > worst or best == worst), f"{ratio:.2f} of best"))
            if cache == "cold" and order == "file" and dd:
                r = max(g["prefetch"], g["direct"]) / dd
                checks.append((f"{fs} cold file: best of prefetch/direct >= 90% of dd iflag=direct", r >= 0.90, f"{r:.2f}"))
            if cache == "warm" and order == "file" and dd:
                for s in ("mmap", "auto"):
                    r = g[s] / dd
                    checks.append((f"{fs} warm file: {s} >= 85% of warm dd", r >= 0.85, f"{r:.2f}"))
            if cache == "cold" and order == "shuffled":
                for s in ("prefetch", "direct"):
                    r = g[s] / g["mmap"]
                    checks.append((f"{fs} cold shuffled: {s} >= 3x mmap", r >= 3.0, f"{r:.2f}x"))
lines += ["", "| target | met | measured |", "|---|---|---|"]
lines += [f"| {name} | {'yes' if ok else 'NO'} | {value} |" for name, ok, value in checks]
report = "\n".join(lines) + "\n"
with open(os.path.join(out_dir, "results.md"), "w") as f:
    f.write(report)
print(report)

# Chart: one bar group per cell, GB/s per strategy.
if shutil.which("gnuplot"):
    dat = os.path.join(out_dir, "chart.dat")
    with open(dat, "w") as f:
        f.write("# cell mmap prefetch direct auto\n")
        for fs in sorted({k[0] for k in median}):
            for cache in ("cold", "warm"):
                for order in ("file", "shuffled"):
                    vals = [median.get((fs, s, cache, order)) for s in ("mmap", "prefetch", "direct", "auto")]
                    if vals[3] is not None:
                        f.write(f"{fs}/{cache}/{order[:4]} " + " ".join(f"{v or 0:.3f}" for v in vals) + "\n")
    script = f"""set terminal pngcairo size 1200,500 noenhanced
set output '{os.path.join(out_dir, "results.png")}'
set title "stload load throughput (median GB/s)\\n{conditions}" noenhanced font ',10'
set yrange [0:*]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel 'GB/s'
set xtics rotate by -30
set key top left
plot '{dat}' using 2:xtic(1) title 'mmap', '' using 3 title 'prefetch', '' using 4 title 'direct', '' using 5 title 'auto'
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    except subprocess.CalledProcessError as e:
        print(f"chart skipped: gnuplot failed ({e})")
else:
    print("chart skipped: gnuplot not installed (Debian: gnuplot-nox)")
