/**
 * The README's commands, run as written but for the ports (free ones instead of 2525 and 8025, so
 * tests never collide) and the working directory (a fresh one; `npx sluice` is the bin npm linked).
 * `npm ci`, `npm test` and `bash .ci/run` are what CI itself runs; the packing and installing of the
 * Embedding section is test/readme.test.ts.
 */
import { execFile } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { freePort, realSleep, start, tempDir } from "./support/cli.js"

const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8")

/** The commands of the first ```sh block after `heading`: comments, prompts' `&` and continuations gone. */
const commands = (heading: string): ReadonlyArray<string> => {
  const section = readme.slice(readme.indexOf(heading))
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!
  return block.replace(/\\\n\s*/g, "").split("\n")
    .filter((line) => line.trim() !== "" && !line.trimStart().startsWith("#"))
    .map((line) => line.replace(/\s+#.*$/, "").replace(/\s*&$/, "").trim())
}

/** `npx sluice a b c` → ["a", "b", "c"], with the README's ports replaced. */
const sluiceArgs = (command: string, ports: Readonly<Record<string, number>>): ReadonlyArray<string> => {
  expect(command.startsWith("npx sluice ")).toBe(true)
  return command.slice("npx sluice ".length).replace(/\b(2525|8025)\b/g, (port) => String(ports[port])).split(/\s+/)
}

const shell = (command: string) =>
  Effect.async<string, Error>((resume) => {
    execFile("bash", ["-c", command], { timeout: 20_000 }, (error, stdout) => resume(error ? Effect.fail(error) : Effect.succeed(stdout)))
  })

// `npx sluice` as npm linked it, for commands run through a shell (their quoting kept).
const bin = fileURLToPath(new URL("../../../node_modules/.bin/sluice", import.meta.url))


describe("the README's commands", () => {
  it.scoped("Set-up: the sink, serve on it, the curl POST answered queued and the curl GET ending delivered", () =>
    Effect.gen(function*() {
      const [install, sinkCommand, serveCommand, ...rest] = commands("## Set-up")
      expect(install).toBe("npm ci")
      expect(rest).toEqual([])
      const ports = { 2525: yield* freePort, 8025: yield* freePort }
      const cwd = yield* tempDir
      const sink = yield* start(sluiceArgs(sinkCommand!, ports), { cwd })
      yield* sink.waitForLog((line) => line.msg === "sink listening", "the sink to listen")
      const serve = yield* start([...sluiceArgs(serveCommand!, ports), "--port", String(ports[8025])], { cwd })
      yield* serve.waitForLog((line) => line.msg === "serving", "serve to start")

      const [post, get] = commands("Then send one:").map((line) => line.replace(/\b8025\b/g, String(ports[8025])))
      const accepted = JSON.parse(yield* shell(post!)) as { id: string; status: string }
      expect(accepted.status).toBe("queued")
      let status = ""
      for (let i = 0; i < 250 && status !== "delivered"; i++) {
        status = (JSON.parse(yield* shell(get!.replace("<id>", accepted.id))) as { status: string }).status
        if (status !== "delivered") yield* realSleep(20)
      }
      expect(status).toBe("delivered")
      const received = yield* sink.waitForLog((line) => line.msg === "received", "the sink's JSON line for it")
      expect(received).toMatchObject({ from: "me@example.com", to: ["you@example.net"] })
    }))

  it.scoped("Running it: the embedded default with two upstreams by name and weight starts; not ready while neither answers", () =>
    Effect.gen(function*() {
      const [withConfig, embedded] = commands("## Running it")
      expect(withConfig).toBe("npx sluice serve --config sluice.json")
      const cwd = yield* tempDir
      const port = yield* freePort
      const serve = yield* start([...sluiceArgs(embedded!, {}), "--port", String(port)], { cwd })
      const serving = yield* serve.waitForLog((line) => line.msg === "serving", "serve to start")
      expect(serving.upstreams).toEqual(["relay-a:25", "relay-b:25"])
      // relay-a and relay-b are names nothing answers to here: no upstream takes mail, so not ready.
      const ready = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/readyz`))
      expect(ready.status).toBe(503)
    }))

  it.scoped("HTTP API: `serve --config sluice.json`, with the Configuration section's streams, accepts the README's message as written", () =>
    Effect.gen(function*() {
      const [withConfig] = commands("## Running it")
      const json = (heading: string) => /```json\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf(heading)))![1]!
      const cwd = yield* tempDir
      const port = yield* freePort
      const streams = (JSON.parse(json("### Configuration")) as { streams: unknown }).streams
      writeFileSync(join(cwd, "sluice.json"), JSON.stringify({ http: { port }, upstreams: [{ host: "127.0.0.1", port: yield* freePort }], streams }))
      const serve = yield* start(sluiceArgs(withConfig!, {}), { cwd })
      yield* serve.waitForLog((line) => line.msg === "serving", "serve to start")
      const response = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${port}/v1/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: json("## HTTP API") })
      )
      expect(yield* Effect.promise(() => response.json())).toMatchObject({ status: "queued" })
      expect(response.status).toBe(202)
    }))

  it.scoped("Steering a running server: each sluice queue command as written, against a serve", () =>
    Effect.gen(function*() {
      const lines = commands("### Steering a running server")
      expect(lines.map((line) => line.split(" ").slice(0, 4).join(" "))).toEqual([
        "npx sluice queue status",
        "npx sluice queue list",
        "npx sluice queue suspend",
        "npx sluice queue suspensions",
        "npx sluice queue resume",
        "npx sluice queue retry",
        "npx sluice queue purge"
      ])
      const cwd = yield* tempDir
      const port = yield* freePort
      // The Configuration section's streams, so `--stream bulk` names one.
      const streams = (JSON.parse(/```json\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf("### Configuration\n")))![1]!) as { streams: unknown }).streams
      writeFileSync(join(cwd, "sluice.json"), JSON.stringify({ http: { port }, upstreams: [{ host: "127.0.0.1", port: yield* freePort }], streams }))
      const serve = yield* start(["serve", "--config", "sluice.json"], { cwd })
      yield* serve.waitForLog((line) => line.msg === "serving", "serve to start")
      const url = `http://127.0.0.1:${port}`
      const runLine = (line: string) => shell(`${line.replace("npx sluice", bin)} --url ${url}`)
      expect(yield* runLine(lines[0]!)).toContain("queued messages: 0")
      expect(yield* runLine(lines[1]!)).toContain("ID")
      expect(yield* runLine(lines[2]!)).toContain("example.com")
      const listed = yield* runLine(lines[3]!)
      expect(listed).toContain("421s since 03:00")
      const { suspensions } = yield* Effect.promise(() => fetch(`${url}/v1/suspensions`).then((r) => r.json() as Promise<{ suspensions: Array<{ id: string }> }>))
      expect(yield* runLine(lines[4]!.replace("<id>", suspensions[0]!.id))).toBe(`resumed ${suspensions[0]!.id}\n`)
      expect(yield* runLine(lines[5]!)).toBe("0 of 0 due now\n")
      expect(yield* runLine(lines[6]!)).toBe("0 would be bounced\n")
    }))
})
