import { Effect } from "effect"
import MailComposer from "nodemailer/lib/mail-composer/index.js"
import * as Headers from "./internal/headers.js"
import * as Mime from "./internal/mime.js"

export interface Parts {
  readonly from: string
  readonly to: ReadonlyArray<string>
  readonly subject?: string | undefined
  readonly text?: string | undefined
  readonly html?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  /**
   * The engine's message id: the Message-ID it sets is `<id@sender's domain>` and an X-Sluice-Id header
   * carries it, so a later bounce report or complaint that quotes either finds the message.
   */
  readonly id?: string | undefined
}

export { idHeader } from "./internal/mime.js"

// MailComposer, for what `Mime.compose` leaves to it (non-ASCII addresses, structured custom headers).
// Free-text values too long to fold go to it as encoded words already (which it keeps as they are):
// it would write them on one line (internal/headers.ts).
const composeElsewhere = (parts: Parts): Effect.Effect<Buffer> =>
  Effect.promise(() => {
    const given = Mime.ownHeaders(parts)
    const headers = given === undefined ? undefined : Object.fromEntries(
      Object.entries(given).map(([name, value]) => [name, Headers.isUnstructured(name) ? Headers.foldable(name, value) : value])
    )
    return new MailComposer({
      from: parts.from,
      to: [...parts.to],
      ...(parts.subject !== undefined ? { subject: Headers.canFold("Subject", parts.subject) ? parts.subject : Mime.subjectOf(parts.subject) } : {}),
      ...(parts.text !== undefined ? { text: parts.text } : {}),
      ...(parts.html !== undefined ? { html: parts.html } : {}),
      ...(headers !== undefined ? { headers } : {}),
      ...(parts.id !== undefined && !Mime.hasHeader(parts, "message-id") ? { messageId: Mime.messageIdOf(parts, parts.id) } : {})
    }).compile().build()
  })

/**
 * Builds the RFC 5322 message once, at submit, with a Message-ID and Date when the headers do not
 * bring their own. The common shapes (text, html or both, ASCII addresses, plain custom headers) are
 * built directly from nodemailer's encoders; anything else goes through nodemailer's MailComposer.
 */
export const compose = (parts: Parts): Effect.Effect<Buffer> =>
  Mime.canCompose(parts) ? Effect.sync(() => Mime.compose(parts)) : composeElsewhere(parts)

/** `compose` at once, for the common shapes it builds directly; undefined for MailComposer's. */
export const composeNow = (parts: Parts): Buffer | undefined => Mime.canCompose(parts) ? Mime.compose(parts) : undefined
