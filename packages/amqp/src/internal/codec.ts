import { Codec, MessageSchema } from "@sluice/engine"

/** A message in a broker delivery's body: msgpack, decoded with the engine's schema on the way back. */
export const { decode, encode } = Codec.make(MessageSchema.Queued)
