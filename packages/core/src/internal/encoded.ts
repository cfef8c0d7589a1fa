import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import * as Stream from "effect/Stream"
import type { JsonRecord } from "../Resources.js"
import type * as Traversal from "../Traversal.js"

/**
 * Whether encoding with `schema` gives back, for any value it decoded, an equal value: true when the schema has
 * no transformation anywhere (and no refinement: those are left out of the encoded side), so that its encoded
 * side is its type side. `encodedAST` and `typeAST` return the AST itself when there is nothing to remove.
 */
export const encodesAsDecoded = (schema: Schema.Schema.AnyNoContext): boolean =>
  AST.encodedAST(schema.ast) === AST.typeAST(schema.ast)

/**
 * A traversal whose records (decoded with `schema`) are encoded back to Apple's JSON shape. Decided once per
 * schema: when encoding would give back equal records ({@link encodesAsDecoded}), the records are passed on as
 * they are.
 */
export const encoded = <A, I, E, R>(
  traversal: Traversal.Traversal<A, E, R>,
  schema: Schema.Schema<A, I>
): Traversal.Traversal<JsonRecord, E, R> => {
  if (encodesAsDecoded(schema)) return traversal as unknown as Traversal.Traversal<JsonRecord, E, R>
  const encode = Schema.encodeSync(schema) as (a: A) => JsonRecord
  const mapPage = (page: Traversal.Page<A>): Traversal.Page<JsonRecord> => ({ ...page, records: page.records.map(encode) })
  return {
    pages: Stream.map(traversal.pages, mapPage),
    records: Stream.map(traversal.records, encode),
    run: (onPage) => traversal.run(onPage === undefined ? undefined : (page) => onPage(mapPage(page)))
  }
}
