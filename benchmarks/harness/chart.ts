/**
 * Hand-written SVG charts for the results directory: a scenario describes panels (bars, percentile
 * groups, lines over time) and gets one self-contained SVG, readable on GitHub without any tooling.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { resultsDir } from "./results.js"

export interface BarsPanel {
  readonly kind: "bars"
  readonly title: string
  readonly unit: string
  readonly items: ReadonlyArray<{ readonly label: string; readonly value: number | null }>
}

export interface PercentilesPanel {
  readonly kind: "percentiles"
  readonly title: string
  readonly unit: string
  readonly items: ReadonlyArray<{ readonly label: string; readonly p50: number; readonly p90: number; readonly p99: number }>
}

export interface LinesPanel {
  readonly kind: "lines"
  readonly title: string
  readonly xUnit: string
  readonly yUnit: string
  /** [x, y]; anything after y is ignored. */
  readonly lines: ReadonlyArray<{ readonly label: string; readonly points: ReadonlyArray<readonly [number, number, ...Array<unknown>]> }>
  /** Shaded spans of x (e.g. while a sink was down). */
  readonly spans?: ReadonlyArray<{ readonly from: number; readonly to: number; readonly label: string }>
}

export type Panel = BarsPanel | PercentilesPanel | LinesPanel

const width = 920
const labelWidth = 400
const colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
const text = (x: number, y: number, content: string, attrs = "") =>
  `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${escape(content)}</text>`
const fmt = (value: number) =>
  value >= 100 ? Math.round(value).toLocaleString("en-US") : value >= 10 ? value.toFixed(1) : value.toFixed(2)

/** A round upper bound for an axis: 1, 2 or 5 times a power of ten, at or above `max`. */
const niceMax = (max: number) => {
  if (!(max > 0)) return 1
  const power = 10 ** Math.floor(Math.log10(max))
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= max) return step * power
  return 10 * power
}

const barsPanel = (panel: BarsPanel, top: number): { svg: string; height: number } => {
  const rowHeight = 22
  const plotWidth = width - labelWidth - 90
  const max = niceMax(Math.max(0, ...panel.items.map((item) => item.value ?? 0)))
  const parts: Array<string> = [text(10, top + 18, `${panel.title} (${panel.unit})`, 'class="title"')]
  panel.items.forEach((item, i) => {
    const y = top + 30 + i * rowHeight
    parts.push(text(labelWidth - 8, y + 15, item.label, 'text-anchor="end"'))
    if (item.value === null) {
      parts.push(text(labelWidth + 4, y + 15, "not measured", 'class="muted"'))
      return
    }
    const w = Math.max(1, (item.value / max) * plotWidth)
    parts.push(`<rect x="${labelWidth}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowHeight - 6}" fill="${colors[i % colors.length]}"/>`)
    parts.push(text(labelWidth + w + 5, y + 15, fmt(item.value)))
  })
  return { svg: parts.join("\n"), height: 40 + panel.items.length * rowHeight }
}

const percentilesPanel = (panel: PercentilesPanel, top: number): { svg: string; height: number } => {
  const rowHeight = 30
  const plotWidth = width - labelWidth - 90
  const max = niceMax(Math.max(0, ...panel.items.map((item) => item.p99)))
  const parts: Array<string> = [
    text(10, top + 18, `${panel.title} (${panel.unit}; bar to p50, whiskers p90 and p99)`, 'class="title"')
  ]
  const x = (value: number) => labelWidth + (value / max) * plotWidth
  panel.items.forEach((item, i) => {
    const y = top + 30 + i * rowHeight
    const color = colors[i % colors.length]
    parts.push(text(labelWidth - 8, y + 17, item.label, 'text-anchor="end"'))
    parts.push(`<rect x="${labelWidth}" y="${y + 6}" width="${Math.max(1, x(item.p50) - labelWidth).toFixed(1)}" height="14" fill="${color}"/>`)
    parts.push(`<line x1="${x(item.p50).toFixed(1)}" y1="${y + 13}" x2="${x(item.p99).toFixed(1)}" y2="${y + 13}" stroke="${color}"/>`)
    for (const value of [item.p90, item.p99]) {
      parts.push(`<line x1="${x(value).toFixed(1)}" y1="${y + 7}" x2="${x(value).toFixed(1)}" y2="${y + 19}" stroke="${color}" stroke-width="2"/>`)
    }
    parts.push(text(x(item.p99) + 5, y + 17, `${fmt(item.p50)} / ${fmt(item.p90)} / ${fmt(item.p99)}`, 'class="small"'))
  })
  return { svg: parts.join("\n"), height: 40 + panel.items.length * rowHeight }
}

const linesPanel = (panel: LinesPanel, top: number): { svg: string; height: number } => {
  const plotLeft = 70
  const plotTop = top + 30
  const plotWidth = width - plotLeft - 20
  const plotHeight = 200
  const all = panel.lines.flatMap((line) => line.points)
  const xMax = niceMax(Math.max(0, ...all.map((p) => p[0]), ...(panel.spans ?? []).map((s) => s.to)))
  const yMax = niceMax(Math.max(0, ...all.map((p) => p[1])))
  const x = (value: number) => plotLeft + (value / xMax) * plotWidth
  const y = (value: number) => plotTop + plotHeight - (value / yMax) * plotHeight
  const parts: Array<string> = [text(10, top + 18, `${panel.title} (${panel.yUnit} against ${panel.xUnit})`, 'class="title"')]
  for (const span of panel.spans ?? []) {
    parts.push(`<rect x="${x(span.from).toFixed(1)}" y="${plotTop}" width="${Math.max(1, x(span.to) - x(span.from)).toFixed(1)}" height="${plotHeight}" fill="#f3d3d3"/>`)
    parts.push(text(x(span.from) + 3, plotTop + 12, span.label, 'class="small"'))
  }
  for (let i = 0; i <= 4; i++) {
    const value = (yMax * i) / 4
    parts.push(`<line x1="${plotLeft}" y1="${y(value).toFixed(1)}" x2="${plotLeft + plotWidth}" y2="${y(value).toFixed(1)}" class="grid"/>`)
    parts.push(text(plotLeft - 5, y(value) + 4, fmt(value), 'text-anchor="end" class="small"'))
    const xv = (xMax * i) / 4
    parts.push(text(x(xv), plotTop + plotHeight + 15, fmt(xv), 'text-anchor="middle" class="small"'))
  }
  parts.push(`<rect x="${plotLeft}" y="${plotTop}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#999"/>`)
  panel.lines.forEach((line, i) => {
    if (line.points.length === 0) return
    const d = line.points.map((p, j) => `${j === 0 ? "M" : "L"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ")
    parts.push(`<path d="${d}" fill="none" stroke="${colors[i % colors.length]}" stroke-width="1.5"/>`)
  })
  const legendTop = plotTop + plotHeight + 25
  panel.lines.forEach((line, i) => {
    const lx = plotLeft + (i % 2) * (plotWidth / 2)
    const ly = legendTop + Math.floor(i / 2) * 16
    parts.push(`<rect x="${lx}" y="${ly}" width="12" height="4" fill="${colors[i % colors.length]}"/>`)
    parts.push(text(lx + 16, ly + 6, line.label, 'class="small"'))
  })
  return { svg: parts.join("\n"), height: 30 + plotHeight + 30 + Math.ceil(panel.lines.length / 2) * 16 + 10 }
}

export const renderSvg = (title: string, panels: ReadonlyArray<Panel>): string => {
  let top = 40
  const bodies: Array<string> = []
  for (const panel of panels) {
    const { svg, height } = panel.kind === "bars"
      ? barsPanel(panel, top)
      : panel.kind === "percentiles"
      ? percentilesPanel(panel, top)
      : linesPanel(panel, top)
    bodies.push(svg)
    top += height + 20
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${top}" viewBox="0 0 ${width} ${top}" font-family="sans-serif" font-size="12">`,
    "<style>.title{font-weight:bold;font-size:13px}.small{font-size:10px}.muted{fill:#888}.grid{stroke:#e5e5e5}</style>",
    `<rect width="100%" height="100%" fill="white"/>`,
    text(10, 24, title, 'font-size="15" font-weight="bold"'),
    ...bodies,
    "</svg>",
    ""
  ].join("\n")
}

/** Writes benchmarks/results/<scenario>.svg and returns its path. */
export const writeChart = (scenario: string, title: string, panels: ReadonlyArray<Panel>): string => {
  const path = join(resultsDir, `${scenario}.svg`)
  writeFileSync(path, renderSvg(title, panels))
  return path
}
