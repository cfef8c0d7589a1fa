import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { parseResources } from "../src/internal/syncCommand.js"
import * as Resources from "../src/Resources.js"

const names = (values: ReadonlyArray<string>) => Either.map(parseResources(values), (resources) => resources.map((r) => r.name))

describe("sync --resources", () => {
  it("every resource by default; comma lists and repeated flags, in registry order, each once", () => {
    assert.deepStrictEqual(names([]), Either.right([...Resources.names]))
    assert.deepStrictEqual(names(["users,assets", "legacy-users", "assets"]), Either.right(["assets", "users", "legacy-users"]))
    assert.deepStrictEqual(names([" users , subscription-admins "]), Either.right(["users", "subscription-admins"]))
  })

  it("an unknown name lists the valid ones; an empty list is an error", () => {
    assert.deepStrictEqual(
      names(["users,licences"]),
      Either.left(`--resources: unknown resource "licences": use one of ${Resources.names.join(", ")}`)
    )
    assert.isTrue(Either.isLeft(names([","])))
  })
})
