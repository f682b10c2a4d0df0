import { Either, ParseResult, Schema } from "effect"
import type { Options } from "msgpackr"
import { Packr } from "msgpackr"

// Plain msgpack maps, self-describing: what is written stays readable by any process without shared
// structures, and absent optional fields take no space. Binary travels as binary.
const packr = new Packr({ useRecords: false, skipValues: [undefined] } as Options & { skipValues: Array<unknown> })

/** Encodes anything a store keeps beside its checked values (a quarantined record, say). */
export const pack = (value: unknown): Buffer => packr.pack(value)
export const unpack = (bytes: Uint8Array): unknown => packr.unpack(bytes)

// Skipping undefined makes msgpackr list each object's keys before writing it (an array per nested
// object: a recipient, a reply). Values of one fixed shape write their undefined fields instead (3
// bytes each, read back as undefined, which every optional field accepts) and skip that work.
const wholePackr = new Packr({ useRecords: false })

/** Encodes a value whose objects have every field written out (see `pack`): undefined ones are kept. */
export const packWhole = (value: unknown): Buffer => wholePackr.pack(value)

export interface Codec<A> {
  readonly encode: (value: A) => Buffer
  /** The value in `bytes`, or why it cannot be read. */
  readonly decode: (bytes: Uint8Array) => Either.Either<A, string>
}

/**
 * A msgpack codec for values kept outside the process (a broker, a disk): what comes back is decoded
 * with `schema`, not trusted — unless `trusted` says this process wrote it as it is (a check per
 * message can cost more than the rest of a store's work).
 */
export const make = <A, I>(schema: Schema.Schema<A, I>, trusted?: (value: unknown) => boolean): Codec<A> => {
  const validate = Schema.decodeUnknownEither(schema)
  return {
    encode: (value) => packr.pack(value),
    decode: (bytes) => {
      let value: unknown
      try {
        value = packr.unpack(bytes)
      } catch (error) {
        return Either.left(`not msgpack: ${error instanceof Error ? error.message : String(error)}`)
      }
      if (trusted?.(value) === true) return Either.right(value as A)
      return Either.mapLeft(validate(value), (error) => ParseResult.TreeFormatter.formatErrorSync(error))
    }
  }
}
