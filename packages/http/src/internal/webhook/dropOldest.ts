import { Effect, Option, Queue } from "effect"

/**
 * A bounded buffer that never makes its producer wait: when full, the oldest entry makes room and
 * `onDrop` is told. (Queue.sliding does the same but does not say what it dropped.)
 */
export const make = <A>(capacity: number, onDrop: (dropped: A) => Effect.Effect<void>) =>
  Effect.map(Queue.bounded<A>(capacity), (queue) => {
    const offer = (value: A): Effect.Effect<void> =>
      Effect.suspend(() =>
        queue.unsafeOffer(value)
          ? Effect.void
          : Queue.poll(queue).pipe(
            Effect.flatMap(Option.match({ onNone: () => Effect.void, onSome: onDrop })),
            Effect.zipRight(offer(value))
          )
      )
    return { queue, offer }
  })
