import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Sink } from "@sluice/sink"
import type { Scope } from "effect"
import { Effect } from "effect"
import { root, run } from "./support/run.js"

// deploy/: the Prometheus alert rules and the Grafana dashboard for running Sluice (README, "Metrics").
// promtool is Debian's `prometheus` package; scripts/install-promtool.sh installs it (.ci/run calls it).
const rulesFile = join(root, "deploy", "prometheus", "sluice-alerts.yml")
const dashboardFile = join(root, "deploy", "grafana", "sluice-dashboard.json")
// The built command, as `npx sluice` runs it (`npm test` builds it first).
const bin = join(root, "node_modules", ".bin", "sluice")

interface Target {
  readonly expr?: string
  readonly refId?: string
}
interface Panel {
  readonly type: string
  readonly title: string
  readonly targets?: ReadonlyArray<Target>
  readonly panels?: ReadonlyArray<Panel>
}
interface Dashboard {
  readonly schemaVersion: number
  readonly panels: ReadonlyArray<Panel>
  readonly templating: { readonly list: ReadonlyArray<{ readonly name: string; readonly type: string; readonly query?: unknown }> }
}

const dashboard = (): Dashboard => JSON.parse(readFileSync(dashboardFile, "utf8")) as Dashboard

/** Every panel that shows data (rows only group them), rows' collapsed panels included. */
const dataPanels = (d: Dashboard): ReadonlyArray<Panel> =>
  d.panels.flatMap((panel) => panel.type === "row" ? (panel.panels ?? []) : [panel])

/** The PromQL of every panel, with Grafana's variables given values Prometheus can parse. */
const dashboardExprs = (d: Dashboard): ReadonlyArray<{ readonly panel: string; readonly expr: string }> =>
  dataPanels(d).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      panel: panel.title,
      expr: (target.expr ?? "").replaceAll("$__rate_interval", "5m").replaceAll("$__interval", "1m").replaceAll("$instance", ".*")
    }))
  )

/**
 * The `expr:` of every rule of the rules file: YAML block scalars (`expr: |`, what the file uses) or
 * one-line plain scalars. promtool (below) checks that the file is YAML and its rules what Prometheus reads.
 */
const ruleExprs = (text: string): ReadonlyArray<string> => {
  const exprs: Array<string> = []
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const match = /^(\s*)(?:- )?expr:\s*(.*)$/.exec(lines[i]!)
    if (match === null) continue
    const indent = match[1]!.length
    if (match[2] !== "|" && match[2] !== ">" && match[2] !== "|-" && match[2] !== ">-") {
      exprs.push(match[2]!)
      continue
    }
    const block: Array<string> = []
    while (i + 1 < lines.length && (lines[i + 1]!.trim() === "" || /^\s*/.exec(lines[i + 1]!)![0].length > indent)) {
      block.push(lines[++i]!)
    }
    exprs.push(block.join("\n"))
  }
  return exprs
}

// PromQL words that are not metrics: aggregation modifiers, binary operators, and the literals.
const keywords = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"])

/**
 * The metric names a PromQL expression selects: identifiers left once strings, label matchers,
 * ranges, grouping clauses and offsets are taken out, that are not called (functions, aggregations)
 * nor keywords. `up` is Prometheus's own, not Sluice's.
 */
const metricNames = (expr: string): ReadonlyArray<string> => {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, "\"\"")
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, " ")
    .replace(/\boffset\s+-?[\w.]+/gi, " ")
  const names = new Set<string>()
  for (const match of bare.matchAll(/(?<![\w$.:])([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = match
    if (call !== undefined || keywords.has(name!.toLowerCase()) || name === "up") continue
    names.add(name!)
  }
  return [...names]
}

/** A histogram's or summary's series name, as its family: `x_bucket`, `x_sum`, `x_count` → `x`. */
const familyOf = (name: string, histograms: ReadonlySet<string>): string => {
  const base = name.replace(/_(?:bucket|sum|count)$/, "")
  return base !== name && histograms.has(base) ? base : name
}

/** What a Prometheus text exposition holds: the series names with samples, and the histogram families. */
const exposition = (text: string) => {
  const samples = new Set<string>()
  const histograms = new Set<string>()
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (histogram|summary)$/.exec(line)
    if (type !== null) histograms.add(type[1]!)
    const sample = /^([A-Za-z_:][\w:]*)(?:\{|\s)/.exec(line)
    if (sample !== null) samples.add(sample[1]!)
  }
  return { samples, histograms }
}

/** Where promtool is on the PATH; CI installs it (scripts/install-promtool.sh). */
const promtoolPath = (): string => {
  const found = (process.env.PATH ?? "").split(delimiter).map((dir) => join(dir, "promtool")).find((path) => existsSync(path))
  if (found === undefined) throw new Error("promtool is not on the PATH: install it with `bash scripts/install-promtool.sh` (Debian's prometheus package)")
  return found
}

/** Runs promtool with `args` to its end. */
const promtool = (args: ReadonlyArray<string>) =>
  Effect.sync(promtoolPath).pipe(
    Effect.flatMap((path) => run(path, args, { cwd: root, what: `promtool ${args.join(" ")}`, seconds: 30 })),
    Effect.orDie
  )

/** A directory of the test's own, removed with the scope. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "sluice-dashboards-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Waits, in real time, until `check` gives a value; dies naming `what` after `timeoutMs`. */
const eventually = <A>(check: Effect.Effect<A | undefined>, what: () => string, timeoutMs = 30_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = yield* check
      if (value !== undefined) return value
      if (Date.now() > deadline) return yield* Effect.die(new Error(`timed out waiting for ${what()}`))
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 100)))
    }
  })

/** `sluice serve --config file` in the scope, up once it logs "http listening"; killed with the scope. */
const serve = (file: string, cwd: string): Effect.Effect<{ readonly base: string; readonly output: () => string }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const output = { text: "", closed: undefined as number | null | undefined }
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(bin, ["serve", "--config", file], { cwd, stdio: ["ignore", "pipe", "pipe"] })
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => output.text += chunk)
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => output.text += chunk)
        child.on("close", (code) => output.closed = code)
        return child
      }),
      (child) =>
        output.closed !== undefined
          ? Effect.void
          : Effect.async<void>((resume) => {
            child.once("close", () => resume(Effect.void))
            child.kill("SIGKILL")
          })
    )
    const port = yield* eventually(
      Effect.sync(() => {
        if (output.closed !== undefined) throw new Error(`sluice serve ended (exit ${output.closed}):\n${output.text}`)
        const listening = /"msg":"http listening".*"port":(\d+)/.exec(output.text)
        return listening === null ? undefined : Number(listening[1])
      }),
      () => `sluice serve to listen:\n${output.text}`,
      60_000
    )
    return { base: `http://127.0.0.1:${port}`, output: () => output.text }
  })

/**
 * A webhook receiver on a free loopback port: accepts the first post and refuses (400) the rest, so
 * that the engine counts both posted and dropped events.
 */
const receiver = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly close: () => void; readonly posts: () => number }>((resume) => {
    let posts = 0
    const server = createServer((request, response) => {
      request.resume().on("end", () => {
        posts += 1
        response.writeHead(posts === 1 ? 200 : 400, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(Effect.succeed({ url: `http://127.0.0.1:${port}/events`, close: () => server.close(), posts: () => posts }))
    })
  }),
  (receiver) => Effect.sync(() => receiver.close())
)

/** A loopback port nothing listens on: a Redis that never answers. */
const deadPort = Effect.async<number>((resume) => {
  const server = createServer().listen(0, "127.0.0.1", () => {
    const { port } = server.address() as AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

const http = (base: string, method: string, path: string, json?: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(`${base}${path}`, {
      method,
      ...(json === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(json) })
    })
    const text = await response.text()
    return { status: response.status, text, body: (response.headers.get("content-type") ?? "").includes("json") ? JSON.parse(text) : undefined }
  })

describe("deploy/: the Prometheus alert rules and the Grafana dashboard", () => {
  it("the metric-name extraction finds metrics and leaves out functions, keywords, labels and up", () => {
    expect(metricNames(`sum by (le) (rate(foo_bucket{a="b", c=~"x|y"}[5m])) / on(x) group_left(le) bar offset 5m`)).toEqual(["foo_bucket", "bar"])
    expect(metricNames(`up{job="sluice"} == 0 and bool max without (instance) (baz:recorded) > 1e3 or vector(0)`)).toEqual(["baz:recorded"])
    expect(metricNames(`time() - max by (instance) (process_start_time_seconds{instance=~".*"})`)).toEqual(["process_start_time_seconds"])
    expect(familyOf("x_bucket", new Set(["x"]))).toBe("x")
    expect(familyOf("y_count", new Set(["x"]))).toBe("y_count")
  })

  it.scoped("promtool check rules accepts the rules file, and refuses a broken copy of it", () =>
    Effect.gen(function*() {
      const good = yield* promtool(["check", "rules", rulesFile])
      expect(good.stdout + good.stderr).toContain("SUCCESS")
      expect(good.code, good.stdout + good.stderr).toBe(0)

      const text = readFileSync(rulesFile, "utf8")
      // What the other tests read of the file is every rule promtool found.
      expect(good.stdout).toContain(`SUCCESS: ${ruleExprs(text).length} rules found`)
      const dir = yield* tempDir
      // An expression that does not parse, and a template that does not either: each must be refused.
      const brokenExpr = join(dir, "broken-expr.yml")
      writeFileSync(brokenExpr, text.replace("max by (job, instance) (sluice_redis_degraded) == 1", "max by (job, instance) (sluice_redis_degraded == 1"))
      const brokenTemplate = join(dir, "broken-template.yml")
      writeFileSync(brokenTemplate, text.replace("{{ $labels.instance }} runs without Redis", "{{ $labels.instance runs without Redis"))
      for (const file of [brokenExpr, brokenTemplate]) {
        expect(readFileSync(file, "utf8")).not.toBe(text)
        const bad = yield* promtool(["check", "rules", file])
        expect(bad.code, bad.stdout + bad.stderr).not.toBe(0)
        expect(bad.stdout + bad.stderr).toContain("FAILED")
      }
    }))

  it("the rules cover what operators need, each with a duration, a severity and its annotations", () => {
    const text = readFileSync(rulesFile, "utf8")
    const exprs = ruleExprs(text).join("\n")
    for (const metric of ["sluice_recipients_total", "sluice_messages_total", "sluice_upstream_circuit_state", "sluice_redis_degraded", "sluice_queue_depth"]) {
      expect(exprs).toContain(metric)
    }
    expect(exprs).toMatch(/outcome="complained"/)
    expect(exprs).toMatch(/outcome="deferred"/)
    expect(exprs).toMatch(/up\{job="sluice"\} == 0/)
    const alerts = text.split(/^\s*- alert: /m).slice(1)
    expect(alerts.length).toBeGreaterThanOrEqual(8)
    for (const alert of alerts) {
      const name = alert.split("\n")[0]
      expect(alert, name).toMatch(/^\s+for: \d+[smh]$/m)
      expect(alert, name).toMatch(/^\s+severity: (?:warning|critical)$/m)
      expect(alert, name).toMatch(/^\s+summary: /m)
      expect(alert, name).toMatch(/^\s+description: /m)
      expect(alert, name).toMatch(/\{\{ \$(?:labels\.\w+|value[^}]*) \}\}/)
    }
  })

  it("the dashboard parses, has its data source and instance variables, and every panel has a PromQL target", () => {
    const d = dashboard()
    expect(d.schemaVersion).toBeGreaterThanOrEqual(36)
    const variables = new Map(d.templating.list.map((v) => [v.name, v]))
    expect(variables.get("DS_PROMETHEUS")?.type).toBe("datasource")
    expect(variables.get("instance")?.type).toBe("query")
    const panels = dataPanels(d)
    expect(panels.length).toBeGreaterThanOrEqual(15)
    for (const panel of panels) {
      const exprs = (panel.targets ?? []).map((target) => target.expr?.trim() ?? "")
      expect(exprs.length, panel.title).toBeGreaterThan(0)
      for (const expr of exprs) expect(expr, panel.title).not.toBe("")
    }
    const titles = panels.map((panel) => panel.title.toLowerCase()).join("\n")
    for (const topic of ["queue depth", "in flight", "circuit", "smtp replies", "bounce", "complaint", "delivery duration", "connections", "webhook", "redis", "cpu", "memory"]) {
      expect(titles).toContain(topic)
    }
  })

  it.scoped("every dashboard expression is valid PromQL (promtool checks them as recording rules)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = join(dir, "dashboard-exprs.yml")
      const exprs = dashboardExprs(dashboard())
      // JSON is YAML: each expression is a quoted string, whatever it holds.
      writeFileSync(file, JSON.stringify({
        groups: [{ name: "dashboard", rules: exprs.map(({ expr }, i) => ({ record: `dashboard:expr_${i}`, expr })) }]
      }))
      const checked = yield* promtool(["check", "rules", file])
      expect(checked.code, `${checked.stdout}${checked.stderr}\n${exprs.map((e, i) => `${i}: ${e.panel}: ${e.expr}`).join("\n")}`).toBe(0)
      expect(checked.stdout).toContain(`SUCCESS: ${exprs.length} rules found`)
    }))

  it.scoped("every metric the rules and the dashboard name is on /metrics of a running sluice serve", () =>
    Effect.gen(function*() {
      // What they name: each with where it is used, for the message when one is missing.
      const used = new Map<string, Array<string>>()
      const use = (name: string, where: string) => used.set(name, [...(used.get(name) ?? []), where])
      const rules = readFileSync(rulesFile, "utf8")
      for (const expr of ruleExprs(rules)) for (const name of metricNames(expr)) use(name, "deploy/prometheus/sluice-alerts.yml")
      for (const { expr, panel } of dashboardExprs(dashboard())) for (const name of metricNames(expr)) use(name, `dashboard panel "${panel}"`)
      // The extraction found what the files are about (it is not vacuously satisfied).
      expect([...used.keys()]).toEqual(expect.arrayContaining([
        "sluice_recipients_total",
        "sluice_messages_total",
        "sluice_upstream_circuit_state",
        "sluice_redis_degraded",
        "sluice_queue_depth",
        "sluice_delivery_duration_seconds_bucket",
        "process_cpu_seconds_total"
      ]))

      // A node with everything the metrics count: a sink that takes mail (and refuses `+5xx`/`+4xx`
      // local parts), retries quick enough for a deferral to fail, a webhook receiver that takes one
      // post and refuses the rest, and a Redis that never answers (the node runs degraded).
      const sink = yield* Sink.make().pipe(Effect.orDie)
      const webhook = yield* receiver
      const redisPort = yield* deadPort
      const dir = yield* tempDir
      const file = join(dir, "sluice.json")
      writeFileSync(file, JSON.stringify({
        http: { host: "127.0.0.1", port: 0 },
        queue: { kind: "memory" },
        cache: { kind: "redis", url: `redis://127.0.0.1:${redisPort}` },
        upstreams: [{ name: "sink", host: sink.host, port: sink.port }],
        retry: { maxAttempts: 2, initialDelay: "100 millis", maxDelay: "200 millis" },
        webhook: { url: webhook.url, batchSize: 1, flushInterval: "50 millis" }
      }))
      const sluice = yield* serve(file, dir)

      const submit = (to: string) =>
        http(sluice.base, "POST", "/v1/messages", { from: "app@example.com", to: [to], subject: "Metrics", text: "Counted." }).pipe(
          Effect.map((answer) => {
            expect(answer.status, answer.text).toBe(202)
            return answer.body.id as string
          })
        )
      const delivered = yield* submit("reader@example.net")
      yield* submit("gone+550@example.net")
      yield* submit("busy+451@example.net")
      yield* eventually(
        http(sluice.base, "GET", `/v1/messages/${delivered}`).pipe(Effect.map((answer) => answer.body?.status === "delivered" ? true : undefined)),
        () => `message ${delivered} to be delivered:\n${sluice.output()}`
      )
      const complaint = yield* http(sluice.base, "POST", "/v1/complaints", { id: delivered })
      expect(complaint.status, complaint.text).toBe(202)

      // Counters appear on /metrics once counted: wait until everything named is there.
      let last = { samples: new Set<string>(), histograms: new Set<string>() }
      const missing = () => [...used.keys()].filter((name) => !last.samples.has(name))
      yield* eventually(
        http(sluice.base, "GET", "/metrics").pipe(Effect.map((answer) => {
          expect(answer.status).toBe(200)
          last = exposition(answer.text)
          return missing().length === 0 ? true : undefined
        })),
        () =>
          `every metric named to be on /metrics; missing:\n${
            missing().map((name) => `  ${familyOf(name, last.histograms)} (${name}): ${[...new Set(used.get(name))].join(", ")}`).join("\n")
          }\nsluice serve:\n${sluice.output()}`
      )
      expect(missing()).toEqual([])
      // The histogram's series are of a histogram family.
      expect(last.histograms.has("sluice_delivery_duration_seconds")).toBe(true)
      expect(webhook.posts()).toBeGreaterThanOrEqual(2)
    }), 120_000)
})
