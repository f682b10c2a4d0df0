import { describe, expect, it } from "@effect/vitest"
import { messageId } from "@sluice/engine"
import { Effect, TestClock } from "effect"
import type { Running } from "./support/adapter.js"
import { message, start, statusUntil } from "./support/adapter.js"
import { arf, dsn } from "./support/reports.js"

/** What the sink received for the message sent to `address`: the original a report returns. */
const receivedBy = (api: Running, address: string) => {
  const received = api.sink.messages.find((m) => m.to.includes(address))
  if (received === undefined) throw new Error(`the sink received nothing for ${address}`)
  return received.data
}

const asRfc822 = (raw: Buffer) => ({ raw, headers: { "content-type": "message/rfc822" } })

const reason = "bounced: 550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown"

describe("POST /v1/feedback", () => {
  it.scopedLive("a bounce report after delivery: the recipient bounced (bad-mailbox), the message partial, the address refused next time", () =>
    Effect.gen(function*() {
      const api = yield* start()
      const submitted = yield* api.call("POST", "/v1/messages", { json: message(1, { to: ["ann@example.net", "nobody@example.net"] }) })
      const id = submitted.body.id
      yield* statusUntil(api, id, "delivered")
      const original = receivedBy(api, "nobody@example.net")
      expect(original.toString()).toContain(`X-Sluice-Id: ${id}`)

      const answer = yield* api.call("POST", "/v1/feedback", asRfc822(dsn(original, "nobody@example.net").whole))
      expect(answer.status).toBe(202)
      expect(answer.body).toEqual({
        kind: "bounce",
        matched: true,
        id,
        status: "partial",
        recipients: [{ address: "nobody@example.net", action: "failed", status: "5.1.1", category: "bad-mailbox", applied: true, suppressed: true }]
      })

      const { body } = yield* statusUntil(api, id, "partial")
      expect(body.recipients).toEqual([
        { address: "ann@example.net", status: "delivered", reply: expect.objectContaining({ code: 250 }) },
        {
          address: "nobody@example.net",
          status: "bounced",
          reply: { code: 550, enhanced: "5.1.1", text: "<nobody@example.net>: Recipient address rejected: User unknown" },
          category: "bad-mailbox"
        }
      ])

      const next = yield* api.call("POST", "/v1/messages", { json: message(2, { to: ["nobody@example.net"] }) })
      expect(next.status).toBe(422)
      expect(next.body).toMatchObject({ field: "to[0]", detail: `nobody@example.net is suppressed: ${reason}` })
      expect((yield* api.call("POST", "/v1/messages", { json: message(3, { to: ["ann@example.net"] }) })).status).toBe(202)
    }))

  it.scopedLive("the report as message/rfc822, text/plain, multipart/report (its MIME body) or JSON {report}", () =>
    Effect.gen(function*() {
      const api = yield* start()
      const transports = {
        "message/rfc822": (report: ReturnType<typeof dsn>) => asRfc822(report.whole),
        "text/plain": (report: ReturnType<typeof dsn>) => ({ raw: report.whole, headers: { "content-type": "text/plain; charset=us-ascii" } }),
        "multipart/report": (report: ReturnType<typeof dsn>) => ({ raw: report.mimeBody, headers: { "content-type": report.contentType } }),
        "JSON": (report: ReturnType<typeof dsn>) => ({ json: { report: report.whole.toString("utf8") } })
      }
      for (const [name, send] of Object.entries(transports)) {
        const address = `gone-${name.replace(/\W/g, "-")}@example.net`
        const submitted = yield* api.call("POST", "/v1/messages", { json: message(1, { to: [address, "kept@example.net"] }) })
        yield* statusUntil(api, submitted.body.id, "delivered")
        const answer = yield* api.call("POST", "/v1/feedback", send(dsn(receivedBy(api, address), address)))
        expect(answer.status, name).toBe(202)
        expect(answer.body, name).toMatchObject({ matched: true, id: submitted.body.id, status: "partial", recipients: [{ address, applied: true }] })
      }
    }))

  it.scopedLive("an abuse report suppresses the complainer; POST /v1/complaints with an address does too", () =>
    Effect.gen(function*() {
      const api = yield* start()
      const single = yield* api.call("POST", "/v1/messages", { json: message(1, { to: ["reader@example.net"] }) })
      yield* statusUntil(api, single.body.id, "delivered")
      const answer = yield* api.call("POST", "/v1/feedback", asRfc822(arf(receivedBy(api, "reader@example.net"))))
      expect(answer.status).toBe(202)
      expect(answer.body).toEqual({
        kind: "complaint",
        feedbackType: "abuse",
        matched: true,
        id: single.body.id,
        status: "delivered",
        recipients: [{ address: "reader@example.net", applied: true, suppressed: true }]
      })
      const refused = yield* api.call("POST", "/v1/messages", { json: message(2, { to: ["reader@example.net"] }) })
      expect(refused.status).toBe(422)
      expect(refused.body.detail).toBe(`reader@example.net is suppressed: complained: abuse report on message ${single.body.id}`)

      const pair = yield* api.call("POST", "/v1/messages", { json: message(3, { to: ["a@example.net", "b@example.net"] }) })
      yield* statusUntil(api, pair.body.id, "delivered")
      const unnamed = yield* api.call("POST", "/v1/complaints", { json: { id: pair.body.id } })
      expect(unnamed.status).toBe(202)
      expect(unnamed.body).toEqual({
        id: pair.body.id,
        status: "recorded",
        address: null,
        suppressed: false,
        note: "the complaint does not say which of the message's 2 recipients complained; nobody suppressed"
      })
      const named = yield* api.call("POST", "/v1/complaints", { json: { id: pair.body.id, address: "b@example.net" } })
      expect(named.body).toEqual({ id: pair.body.id, status: "recorded", address: "b@example.net", suppressed: true })
      const batch = yield* api.call("POST", "/v1/messages/batch", {
        json: { messages: [message(4, { to: ["a@example.net"] }), message(5, { to: ["b@example.net"] })] }
      })
      expect(batch.body.results[0]).toMatchObject({ status: "queued" })
      expect(batch.body.results[1].error).toMatchObject({ status: 422, field: "messages[1].to[0]" })
      const invalid = yield* api.call("POST", "/v1/complaints", { json: { id: pair.body.id, address: "not an address" } })
      expect(invalid.status).toBe(400)
      expect(invalid.body.field).toBe("address")
    }))

  it.scopedLive("a report about no message Sluice knows: 202 matched false; not a report: 400 naming what is missing", () =>
    Effect.gen(function*() {
      const api = yield* start({ http: { maxBodyBytes: 64 * 1024 } })
      const stranger = Buffer.from(`X-Sluice-Id: ${messageId(Date.now())}\r\nTo: nobody@example.net\r\nSubject: hi\r\n\r\nhi\r\n`)
      const unmatched = yield* api.call("POST", "/v1/feedback", asRfc822(dsn(stranger, "nobody@example.net").whole))
      expect(unmatched.status).toBe(202)
      expect(unmatched.body).toMatchObject({ kind: "bounce", matched: false, recipients: [{ address: "nobody@example.net", applied: false }] })

      const garbage = yield* api.call("POST", "/v1/feedback", asRfc822(Buffer.from([0, 255, 13, 10, 58, 13, 10, 13, 10, 1, 2, 3])))
      expect(garbage.status).toBe(400)
      expect(garbage.headers["content-type"]).toBe("application/problem+json")
      expect(garbage.body.detail).toMatch(/^not a delivery status notification or abuse report: not multipart\/report/)

      const noStatus = Buffer.from(
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsorry\r\n--b--\r\n"
      )
      const inJson = yield* api.call("POST", "/v1/feedback", { json: { report: noStatus.toString() } })
      expect(inJson.status).toBe(400)
      expect(inJson.body).toMatchObject({ field: "report", detail: "not a delivery status notification or abuse report: no delivery-status part" })

      const wrongField = yield* api.call("POST", "/v1/feedback", { json: { dsn: "x" } })
      expect(wrongField.status).toBe(400)
      const empty = yield* api.call("POST", "/v1/feedback", asRfc822(Buffer.alloc(0)))
      expect(empty.status).toBe(400)
      expect(empty.body.detail).toBe("the body is empty; expected a report")
      const pdf = yield* api.call("POST", "/v1/feedback", { raw: "%PDF-1.7", headers: { "content-type": "application/pdf" } })
      expect(pdf.status).toBe(415)
      expect(pdf.body.detail).toContain("message/rfc822, multipart/report, text/plain")
      const large = yield* api.call("POST", "/v1/feedback", asRfc822(dsn(Buffer.alloc(100 * 1024, "x"), "a@example.net").whole))
      expect(large.status).toBe(413)
      expect((yield* api.call("GET", "/healthz")).status).toBe(200)
    }))

  it.scopedLive("behind the API keys, and in the OpenAPI document with its content types", () =>
    Effect.gen(function*() {
      const api = yield* start({ http: { apiKeys: ["key-one"] } })
      const report = asRfc822(dsn(Buffer.from("To: a@example.net\r\n\r\nx\r\n"), "a@example.net").whole)
      expect((yield* api.call("POST", "/v1/feedback", report)).status).toBe(401)
      const authorized = yield* api.call("POST", "/v1/feedback", { ...report, headers: { ...report.headers, authorization: "Bearer key-one" } })
      expect(authorized.status).toBe(202)
      const spec = (yield* api.call("GET", "/openapi.json", { headers: { authorization: "Bearer key-one" } })).body
      const operation = spec.paths["/v1/feedback"].post
      expect(Object.keys(operation.requestBody.content).sort()).toEqual(["application/json", "message/rfc822", "multipart/report", "text/plain"])
      expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(["202", "400", "401", "413", "415", "503"]))
      expect(operation.security).toEqual([{ bearer: [] }])
    }))
})

describe("suppressions that expire", () => {
  // TestClock: the engine's and the recipient checks' clock, moved by the test.
  it.scoped("with suppressions.expireAfter, a complaint's suppression refuses until then, and not after", () =>
    Effect.gen(function*() {
      const api = yield* start({ suppressions: { expireAfter: "5 minutes" } })
      const submitted = yield* api.call("POST", "/v1/messages", { json: message(1, { to: ["reader@example.net"] }) })
      yield* statusUntil(api, submitted.body.id, "delivered")
      const complaint = yield* api.call("POST", "/v1/complaints", { json: { id: submitted.body.id } })
      expect(complaint.body).toMatchObject({ address: "reader@example.net", suppressed: true })
      const refused = yield* api.call("POST", "/v1/messages", { json: message(2, { to: ["reader@example.net"] }) })
      expect(refused.status).toBe(422)
      expect(refused.body.detail).toBe(
        `reader@example.net is suppressed until 1970-01-01T00:05:00.000Z: complained about message ${submitted.body.id}`
      )
      yield* TestClock.adjust("4 minutes")
      expect((yield* api.call("POST", "/v1/messages", { json: message(3, { to: ["reader@example.net"] }) })).status).toBe(422)
      yield* TestClock.adjust("1 minute")
      expect((yield* api.call("POST", "/v1/messages", { json: message(4, { to: ["reader@example.net"] }) })).status).toBe(202)
    }))
})
