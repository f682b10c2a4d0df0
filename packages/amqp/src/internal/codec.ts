import type { QueuedMessage } from "@sluice/engine"
import { MessageSchema } from "@sluice/engine"
import { Either, ParseResult, Schema } from "effect"
import type { Options } from "msgpackr"
import { Packr } from "msgpackr"

// Plain msgpack maps: a message stays readable by any node without shared structures, and absent
// optional fields take no space. The content travels as binary, not base64.
const packr = new Packr({ useRecords: false, skipValues: [undefined] } as Options & { skipValues: Array<unknown> })
const validate = Schema.decodeUnknownEither(MessageSchema.Queued)

export const encode = (message: QueuedMessage): Buffer => packr.pack(message)

/** The message in a broker delivery's body, or why it cannot be read. */
export const decode = (bytes: Uint8Array): Either.Either<QueuedMessage, string> => {
  let value: unknown
  try {
    value = packr.unpack(bytes)
  } catch (error) {
    return Either.left(`not msgpack: ${error instanceof Error ? error.message : String(error)}`)
  }
  return Either.mapLeft(validate(value), (error) => ParseResult.TreeFormatter.formatErrorSync(error))
}
