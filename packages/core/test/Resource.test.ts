import { assert, describe, it } from "@effect/vitest"
import * as Resource from "@vppkit/core/Resource"
import * as Resources from "@vppkit/core/Resources"
import * as Schema from "effect/Schema"

const columnsOf = (name: string) =>
  Resource.columns(Resources.byName(name)!).map((field) => `${field.name}:${field.type}`).join(" ")

describe("Resource", () => {
  it("derives each table's columns from the record schema, in the schema's order", () => {
    assert.strictEqual(
      columnsOf("assets"),
      "adamId:text pricingParam:text productType:text assignedCount:integer availableCount:integer retiredCount:integer " +
        "totalCount:integer deviceAssignable:boolean revocable:boolean supportedPlatforms:json unlimited:boolean"
    )
    assert.strictEqual(
      columnsOf("assignments"),
      "adamId:text pricingParam:text clientUserId:text serialNumber:text idHash:text userStatus:text"
    )
    assert.strictEqual(columnsOf("users"), "clientUserId:text email:text idHash:text inviteCode:text status:text")
    assert.strictEqual(
      columnsOf("subscriptions"),
      "adamId:integer parentAdamId:integer status:text periodEndDate:text counts:json"
    )
    assert.strictEqual(columnsOf("subscription-assignments"), "adamId:integer clientUserId:text renewing:boolean")
    assert.strictEqual(columnsOf("subscription-admins"), "adamId:integer clientUserId:text idHash:text userStatus:text")
    assert.strictEqual(
      columnsOf("legacy-licenses"),
      "licenseId:integer licenseIdStr:text adamId:integer adamIdStr:text pricingParam:text productTypeId:integer " +
        "productTypeName:text isIrrevocable:boolean status:text clientUserIdStr:text userId:integer userIdStr:text " +
        "itsIdHash:text serialNumber:text"
    )
    assert.strictEqual(
      columnsOf("legacy-users"),
      "userId:integer clientUserIdStr:text email:text status:text itsIdHash:text inviteCode:text inviteUrl:text licenses:json"
    )
  })

  it("derives filters (name, kind, choices, description) from the filter schema", () => {
    const assets = Resource.filters(Resources.byName("assets")!)
    assert.deepStrictEqual(assets.map((f) => `${f.name}:${f.type}`), [
      "adamId:string",
      "pricingParam:string",
      "productType:string",
      "revocable:boolean",
      "deviceAssignable:boolean",
      "minAvailableCount:integer",
      "maxAvailableCount:integer",
      "minAssignedCount:integer",
      "maxAssignedCount:integer",
      "unlimited:boolean"
    ])
    assert.deepStrictEqual(assets.find((f) => f.name === "productType")?.choices, ["App", "Book"])
    assert.strictEqual(assets.find((f) => f.name === "adamId")?.description, "the product's adamId")
    const subscriptionAssignments = Resource.filters(Resources.byName("subscription-assignments")!)
    assert.deepStrictEqual(subscriptionAssignments.map((f) => `${f.name}:${f.type}`), [
      "parentAdamId:integers",
      "adamId:integers",
      "clientUserId:strings"
    ])
    // The legacy users' includeRetired is a boolean to the user and the integer 1/0 on the wire.
    const legacyUsers = Resources.byName("legacy-users")!
    assert.strictEqual(Resource.filters(legacyUsers)[0]?.type, "boolean")
    assert.deepStrictEqual(Resource.encodeFilters(legacyUsers, { includeRetired: true, includeRetiredOnly: undefined }), {
      includeRetired: 1
    })
  })

  it("every resource has a distinct name and path, and every filter a description", () => {
    assert.strictEqual(new Set(Resources.all.map((r) => r.name)).size, Resources.all.length)
    assert.strictEqual(new Set(Resources.all.map((r) => r.path)).size, Resources.all.length)
    for (const resource of Resources.all) {
      for (const filter of Resource.filters(resource)) assert.notStrictEqual(filter.description, "", `${resource.name} ${filter.name}`)
    }
  })

  it("a made-up resource derives its columns, with real numbers by annotation and nullable fields unwrapped", () => {
    const Widget = Schema.Struct({
      id: Schema.String,
      weight: Schema.Number.annotations({ [Resource.RealColumnId]: true }),
      count: Schema.optionalWith(Schema.NullOr(Schema.Int), { exact: true }),
      tags: Schema.optional(Schema.Array(Schema.String)),
      size: Schema.optional(Schema.Literal("S", "M", "L")),
      made: Schema.optional(Schema.NumberFromString)
    })
    const widgets = Resource.make({
      name: "widgets",
      description: "widgets",
      family: "page-index",
      path: "/v2/widgets",
      field: "widgets",
      record: Widget,
      filters: Schema.Struct({ size: Schema.optional(Schema.Literal("S", "M", "L").annotations({ description: "size" })) }),
      syncFilters: {},
      key: (widget) => widget.id,
      keyDescription: "`id`"
    })
    assert.strictEqual(
      Resource.columns(widgets).map((f) => `${f.name}:${f.type}`).join(" "),
      // `made` is a number to the program and a string in Apple's JSON: the column holds the JSON's string
      "id:text weight:real count:integer tags:json size:text made:text"
    )
    assert.deepStrictEqual(Resource.filters(widgets)[0]?.choices, ["S", "M", "L"])
  })

  it("refuses a checkpoint for a resource without an incremental query", () => {
    assert.throws(() => Resources.traverse(Resources.byName("assets")!, { since: "v1" }), /no incremental query/)
  })
})
