import { Effect } from "effect"
import type { Scope } from "effect"
import * as dgram from "node:dgram"

/** What the responder answers for one name. */
export type Zone =
  | { readonly mx?: ReadonlyArray<{ readonly priority: number; readonly exchange: string }>; readonly a?: ReadonlyArray<string>; readonly aaaa?: ReadonlyArray<string> }
  | "nxdomain"
  | "servfail"
  /** Never answered: the client's query times out. */
  | "silent"

export interface DnsResponder {
  readonly server: string
  /** Queries received for a name (any type), or for all names. */
  readonly queries: (name?: string) => number
}

const TYPE = { A: 1, MX: 15, AAAA: 28 } as const

const encodeName = (name: string) =>
  Buffer.concat([
    ...name.split(".").filter((l) => l.length > 0).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])),
    Buffer.from([0])
  ])

const readName = (packet: Buffer, offset: number) => {
  const labels: Array<string> = []
  while (packet[offset]! !== 0) {
    const length = packet[offset]!
    labels.push(packet.subarray(offset + 1, offset + 1 + length).toString())
    offset += 1 + length
  }
  return { name: labels.join(".").toLowerCase(), end: offset + 1 }
}

const answer = (type: number, rdata: Buffer) => {
  const head = Buffer.alloc(12)
  head.writeUInt16BE(0xc00c, 0) // the name: a pointer to the question's
  head.writeUInt16BE(type, 2)
  head.writeUInt16BE(1, 4) // IN
  head.writeUInt32BE(60, 6)
  head.writeUInt16BE(rdata.length, 10)
  return Buffer.concat([head, rdata])
}

const rdataFor = (zone: Exclude<Zone, string>, type: number): Array<Buffer> => {
  switch (type) {
    case TYPE.MX:
      return (zone.mx ?? []).map((mx) => {
        const priority = Buffer.alloc(2)
        priority.writeUInt16BE(mx.priority)
        return Buffer.concat([priority, encodeName(mx.exchange)])
      })
    case TYPE.A:
      return (zone.a ?? []).map((ip) => Buffer.from(ip.split(".").map(Number)))
    case TYPE.AAAA:
      // Only the forms the tests use: "2001:db8::1" style with one "::".
      return (zone.aaaa ?? []).map((ip) => {
        const [head, tail = ""] = ip.split("::")
        const groups = (s: string) => s.length === 0 ? [] : s.split(":").map((g) => parseInt(g, 16))
        const h = groups(head!), t = groups(tail)
        const all = [...h, ...Array(8 - h.length - t.length).fill(0), ...t]
        const buffer = Buffer.alloc(16)
        all.forEach((g, i) => buffer.writeUInt16BE(g, i * 2))
        return buffer
      })
    default:
      return []
  }
}

/** A DNS server on 127.0.0.1 (UDP, port from 0) answering from `zones`; unknown names are NXDOMAIN. */
export const make = (zones: Record<string, Zone>): Effect.Effect<DnsResponder, never, Scope.Scope> =>
  Effect.gen(function*() {
    const counts = new Map<string, number>()
    const socket = yield* Effect.acquireRelease(
      Effect.async<dgram.Socket>((resume) => {
        const socket = dgram.createSocket("udp4")
        socket.bind(0, "127.0.0.1", () => resume(Effect.succeed(socket)))
      }),
      (socket) => Effect.async<void>((resume) => {
        socket.close(() => resume(Effect.void))
      })
    )
    socket.on("message", (packet, peer) => {
      const { name, end } = readName(packet, 12)
      const type = packet.readUInt16BE(end)
      counts.set(name, (counts.get(name) ?? 0) + 1)
      const zone = zones[name] ?? "nxdomain"
      if (zone === "silent") return
      const records = typeof zone === "string" ? [] : rdataFor(zone, type).map((rdata) => answer(type, rdata))
      const header = Buffer.alloc(12)
      packet.copy(header, 0, 0, 2) // id
      const rcode = zone === "nxdomain" ? 3 : zone === "servfail" ? 2 : 0
      header.writeUInt16BE(0x8180 | rcode, 2) // response, recursion desired and available
      header.writeUInt16BE(1, 4)
      header.writeUInt16BE(records.length, 6)
      const question = packet.subarray(12, end + 4)
      socket.send(Buffer.concat([header, question, ...records]), peer.port, peer.address)
    })
    const port = socket.address().port
    return {
      server: `127.0.0.1:${port}`,
      queries: (name) => name === undefined ? [...counts.values()].reduce((a, b) => a + b, 0) : counts.get(name) ?? 0
    }
  })
