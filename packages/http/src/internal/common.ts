import type { SubmitMessage } from "@sluice/engine"
import { Address, maxRecipients } from "@sluice/engine"
import { maxBatch } from "../Api.js"

// The fields of a message the fast path takes; `template` is not among them (it is rendered first).
const fields = new Set(["from", "to", "subject", "text", "html", "headers", "raw", "stream", "idempotencyKey"])
// The engine's HeaderName and HeaderText (Submission.ts).
const headerName = /^[!-9;-~]{1,76}$/
const breaksHeader = /[\r\n\0]/

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const isAddress = (value: unknown): boolean => typeof value === "string" && Address.problem(value) === undefined

const isOptionalString = (value: unknown, minLength = 0, maxLength = Infinity): boolean =>
  value === undefined || (typeof value === "string" && value.length >= minLength && value.length <= maxLength)

const isHeaders = (value: unknown): boolean => {
  if (!isObject(value)) return false
  for (const name in value) {
    const text = value[name]
    // "__proto__" is a name a decoder's output object would take as its prototype: Schema says what it makes of it.
    if (name === "__proto__" || !headerName.test(name) || typeof text !== "string" || breaksHeader.test(text)) return false
  }
  return true
}

/**
 * True when `input` (parsed JSON) is a message the engine's `SubmitMessage` schema accepts as it is:
 * addresses by `Address.problem`, header names and values, sizes, no unknown field and no template.
 * It only ever says true for what the schema accepts; whatever it is not sure of (anything unusual)
 * goes the way of the schema, which words the problem, so answers do not depend on the path taken.
 * The rules the schema leaves to the engine (a configured stream, raw or parts) are the engine's.
 */
export const isCommonMessage = (input: unknown): input is SubmitMessage => {
  if (!isObject(input)) return false
  for (const key in input) if (!fields.has(key)) return false
  const to = input.to
  if (!isAddress(input.from) || !Array.isArray(to) || to.length === 0 || to.length > maxRecipients) return false
  for (let i = 0; i < to.length; i++) if (!isAddress(to[i])) return false
  const subject = input.subject
  if (subject !== undefined && (typeof subject !== "string" || breaksHeader.test(subject))) return false
  return isOptionalString(input.text) && isOptionalString(input.html) && isOptionalString(input.raw, 1) &&
    isOptionalString(input.stream, 1) && isOptionalString(input.idempotencyKey, 1, 256) &&
    (input.headers === undefined || isHeaders(input.headers))
}

/** The messages of a batch's body (`{"messages": [...]}`) when every one is common, else undefined. */
export const commonBatch = (body: unknown): ReadonlyArray<SubmitMessage> | undefined => {
  if (!isObject(body)) return undefined
  for (const key in body) if (key !== "messages") return undefined
  const messages = body.messages
  if (!Array.isArray(messages) || messages.length === 0 || messages.length > maxBatch) return undefined
  for (let i = 0; i < messages.length; i++) if (!isCommonMessage(messages[i])) return undefined
  return messages as ReadonlyArray<SubmitMessage>
}
