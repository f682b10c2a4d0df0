import { Effect } from "effect"
import MailComposer from "nodemailer/lib/mail-composer/index.js"

export interface Parts {
  readonly from: string
  readonly to: ReadonlyArray<string>
  readonly subject?: string | undefined
  readonly text?: string | undefined
  readonly html?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/**
 * Builds the RFC 5322 message once, at submit, with nodemailer's MailComposer: MIME structure,
 * encodings, and a Message-ID and Date when the headers do not bring their own.
 */
export const compose = (parts: Parts): Effect.Effect<Buffer> =>
  Effect.promise(() =>
    new MailComposer({
      from: parts.from,
      to: [...parts.to],
      ...(parts.subject !== undefined ? { subject: parts.subject } : {}),
      ...(parts.text !== undefined ? { text: parts.text } : {}),
      ...(parts.html !== undefined ? { html: parts.html } : {}),
      ...(parts.headers !== undefined ? { headers: { ...parts.headers } } : {})
    }).compile().build()
  )
