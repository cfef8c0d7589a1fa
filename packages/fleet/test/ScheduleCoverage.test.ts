import { assert, describe, layer } from "@effect/vitest"
import * as NodeDatabase from "@vppkit/node/NodeDatabase"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as crypto from "node:crypto"
import * as FleetKey from "../src/FleetKey.js"
import * as coverage from "../src/internal/coverage.js"
import * as TokenStore from "../src/TokenStore.js"
import { backends, TestDatabase } from "../../node/test/support/postgres.js"

/**
 * How far each schedule's ticks have covered, in the fleet's database (SQLite and PostgreSQL): a late tick takes
 * every minute since the previous one, a repeated or an early one nothing, and ticks of two runners at once take
 * spans that neither overlap nor leave a gap.
 */

const minute = 60_000
const options = { firstBack: minute, maxBack: 15 * minute }

/** The fleet's database (its migrations run by the token store) at `db`, on a client (connection pool) of its own. */
const fleetDatabase = (db: string) =>
  TokenStore.layer.pipe(Layer.provideMerge(Layer.merge(NodeDatabase.layer(db), FleetKey.layer(crypto.randomBytes(32)))))

const spanOf = (span: Option.Option<coverage.Span>) => Option.getOrUndefined(span)

for (const backend of backends) {
  describe.skipIf(!backend.enabled)(`schedule coverage (${backend.name})`, () => {
    layer(backend.layer)((it) => {
      it.scoped("a tick covers from where the previous one left off: late ones catch up, at most maxBack; none twice", () =>
        Effect.gen(function*() {
          const db = yield* (yield* TestDatabase).fresh
          const t0 = Date.UTC(2026, 11, 5, 12, 0)
          yield* Effect.gen(function*() {
            // the first tick covers its own minute
            assert.deepStrictEqual(spanOf(yield* coverage.advance("incremental", t0, options)), { from: t0 - minute, to: t0 })
            // the same minute again, or an earlier one: nothing
            assert.isUndefined(spanOf(yield* coverage.advance("incremental", t0, options)))
            assert.isUndefined(spanOf(yield* coverage.advance("incremental", t0 - minute, options)))
            // on time
            assert.deepStrictEqual(spanOf(yield* coverage.advance("incremental", t0 + minute, options)), {
              from: t0,
              to: t0 + minute
            })
            // four minutes late: the four minutes
            assert.deepStrictEqual(spanOf(yield* coverage.advance("incremental", t0 + 5 * minute, options)), {
              from: t0 + minute,
              to: t0 + 5 * minute
            })
            // each schedule on its own
            assert.deepStrictEqual(spanOf(yield* coverage.advance("full", t0 + 5 * minute, options)), {
              from: t0 + 4 * minute,
              to: t0 + 5 * minute
            })
          }).pipe(Effect.provide(fleetDatabase(db)))
          // a restart an hour later (another client of the same database): back at most maxBack
          yield* Effect.gen(function*() {
            assert.deepStrictEqual(spanOf(yield* coverage.advance("incremental", t0 + 65 * minute, options)), {
              from: t0 + 50 * minute,
              to: t0 + 65 * minute
            })
            assert.deepStrictEqual(spanOf(yield* coverage.advance("incremental", t0 + 66 * minute, options)), {
              from: t0 + 65 * minute,
              to: t0 + 66 * minute
            })
          }).pipe(Effect.provide(fleetDatabase(db)))
        }), 60_000)

      it.scoped("ticks of two runners at once (two clients of one database) take spans with no overlap and no gap", () =>
        Effect.gen(function*() {
          const db = yield* (yield* TestDatabase).fresh
          const t0 = Date.UTC(2026, 11, 5, 12, 0)
          const a = yield* Layer.build(fleetDatabase(db))
          const b = yield* Layer.build(fleetDatabase(db))
          yield* coverage.advance("incremental", t0, options).pipe(Effect.provide(a))
          // each minute ticked on both runners at once, some of them late
          const tos = Array.from({ length: 40 }, (_, i) => t0 + (i + 1 + (i % 3 === 0 ? 2 : 0)) * minute)
          const spans = yield* Effect.forEach(
            tos,
            (to, i) => coverage.advance("incremental", to, options).pipe(Effect.provide(i % 2 === 0 ? a : b)),
            { concurrency: 8 }
          )
          const taken = spans.flatMap((span) => Option.isSome(span) ? [span.value] : []).sort((x, y) => x.from - y.from)
          assert.isAbove(taken.length, 1)
          let covered = t0
          for (const span of taken) {
            assert.strictEqual(span.from, covered, JSON.stringify(taken))
            assert.isAbove(span.to, span.from)
            covered = span.to
          }
          assert.strictEqual(covered, Math.max(...tos))
        }), 60_000)
    })
  })
}
