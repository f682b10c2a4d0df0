import type { ChildProcess } from "node:child_process"
import { spawn } from "node:child_process"
import { createConnection } from "node:net"
import { exited, nextMessage, spawnClient, track } from "./children.js"
import { postfixTools } from "./postfix.js"
import { freePort } from "./serve.js"
import { BenchmarkError } from "./scenario.js"

export type SinkKind = "smtp-sink" | "smtp-server"

/** A sink the peers of a scenario all send to, in a process of its own. */
export interface BenchSink {
  readonly kind: SinkKind
  /** For tables: "Postfix smtp-sink" or "smtp-server (@sluice/sink)". */
  readonly label: string
  readonly host: string
  readonly port: number
  /** Messages the sink has accepted so far. */
  readonly count: () => Promise<number>
  readonly close: () => Promise<void>
  /** Ends the sink's process at once (SIGKILL), as a crash would: open sessions drop. */
  readonly kill: () => Promise<void>
}

/** The sinks available here: Postfix's smtp-sink when installed, and always the smtp-server sink. */
export const availableSinks = (only?: ReadonlyArray<SinkKind>): Array<SinkKind> =>
  (["smtp-sink", "smtp-server"] as const).filter((kind) =>
    (only === undefined || only.includes(kind)) && (kind !== "smtp-sink" || postfixTools() !== undefined)
  )

/** Starts a sink on a free port, or on `port` (to bring a killed one back where it was). */
export const startSink = (kind: SinkKind, port?: number): Promise<BenchSink> =>
  kind === "smtp-sink" ? startPostfixSink(port) : startSmtpServerSink(port)

const killChild = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill("SIGKILL")
  await exited(child)
}

const answers = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = createConnection({ host, port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const stopChild = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill("SIGTERM")
  const timer = setTimeout(() => child.kill("SIGKILL"), 2_000)
  await exited(child)
  clearTimeout(timer)
}

/**
 * Postfix's smtp-sink: `-c` prints running counters ("sess=N quit=N mesg=N", each after a CR) on
 * stdout whenever a message ends, which is how it is counted. `-4` IPv4 only; `-u nobody` because it
 * refuses to run as root without dropping privileges; backlog 1024.
 */
const startPostfixSink = async (fixedPort?: number): Promise<BenchSink> => {
  const tools = postfixTools()
  if (tools === undefined) throw new BenchmarkError("Postfix smtp-sink is not installed (scripts/install-postfix.sh)")
  const host = "127.0.0.1"
  for (let attempt = 1; ; attempt++) {
    const port = fixedPort ?? await freePort()
    const args = ["-c", "-4", ...(process.getuid?.() === 0 ? ["-u", "nobody"] : []), `${host}:${port}`, "1024"]
    const child = track(spawn(tools.smtpSink, args, { stdio: ["ignore", "pipe", "pipe"] }))
    let received = 0
    let tail = ""
    child.stdout!.setEncoding("latin1")
    child.stdout!.on("data", (chunk: string) => {
      const text = tail + chunk
      const counters = text.split("\r")
      tail = counters.pop() ?? ""
      for (let i = counters.length - 1; i >= 0; i--) {
        const match = /mesg=(\d+)/.exec(counters[i]!)
        if (match) {
          received = Number(match[1])
          break
        }
      }
    })
    let errors = ""
    child.stderr!.on("data", (chunk: Buffer) => errors += chunk.toString())
    const deadline = Date.now() + 5_000
    while (Date.now() < deadline && child.exitCode === null && !(await answers(host, port))) await sleep(20)
    if (child.exitCode === null && child.signalCode === null) {
      return {
        kind: "smtp-sink",
        label: `Postfix smtp-sink ${tools.version}`,
        host,
        port,
        // The counter line for a message is printed before the reply that lets its client go on;
        // a short pause lets the pipe catch up with the last ones.
        count: async () => {
          await sleep(50)
          return received
        },
        close: () => stopChild(child),
        kill: () => killChild(child)
      }
    }
    if (attempt >= 3) throw new BenchmarkError(`smtp-sink did not start: ${errors.trim()}`)
  }
}

const startSmtpServerSink = async (port?: number): Promise<BenchSink> => {
  const child = await spawnClient(new URL("./sink-child.ts", import.meta.url).href, port === undefined ? [] : [String(port)])
  const listening = await nextMessage(child, (message: { type?: string; host?: string; port?: number }) =>
    message.type === "listening" ? message as { host: string; port: number } : undefined
  )
  return {
    kind: "smtp-server",
    label: "smtp-server (@sluice/sink, counting)",
    host: listening.host,
    port: listening.port,
    count: async () => {
      const answer = nextMessage(child, (message: { type?: string; received?: number }) =>
        message.type === "count" ? message.received! : undefined
      )
      child.send({ type: "count" })
      return answer
    },
    close: async () => {
      if (child.connected) child.send({ type: "stop" })
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000)
      await exited(child)
      clearTimeout(timer)
    },
    kill: () => killChild(child)
  }
}
