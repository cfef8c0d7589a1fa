import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as ClientConfig from "../src/ClientConfig.js"
import * as Simulator from "@vppkit/simulator/Simulator"

describe("ClientConfig", () => {
  it.effect("reads the location's name, uId and the token's expiry from GET /v2/client/config", () =>
    Effect.gen(function*() {
      const config = yield* ClientConfig.get
      assert.strictEqual(config.locationName, "Springfield Schools")
      assert.match(config.uId ?? "", /^\d{16}$/)
      assert.strictEqual(config.tokenExpirationDate, "2030-11-08T22:33:22+0000")
      assert.isUndefined(config.mdmInfo)
      const simulator = yield* Simulator.Simulator
      const log = yield* simulator.log
      assert.deepStrictEqual(log.map((entry) => [entry.method, entry.path, entry.status]), [["GET", "/v2/client/config", 200]])
    }).pipe(Effect.provide(Simulator.layerTest({ orgName: "Springfield Schools" }))))

  it.effect("a revoked token is refused with AuthError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ClientConfig.get)
      assert.strictEqual(error._tag, "AuthError")
    }).pipe(Effect.provide(Simulator.layerTest({ revoked: true }))))

  it("decodes Apple's example, mdmInfo included", () => {
    const decoded = Schema.decodeUnknownSync(ClientConfig.ClientConfig)({
        countryISO2ACode: "US",
        defaultPlatform: "volumestore",
        locationName: "PS01",
        mdmInfo: { id: "522d5c43-44ca-4f7e-ba7a-53570cf60765", name: "Apple Configurator 2", metadata: "2.13.3" },
        notificationAuthToken: "SUp3rS3Cr3t",
        notificationUrl: "https://www.next.com/notification",
        subscribedNotificationTypes: ["ASSET_COUNT"],
        tokenExpirationDate: "2030-11-08T22:33:22+0000",
        uId: "2049025000431439",
        websiteURL: "https://school.apple.com"
    })
    assert.strictEqual(decoded.mdmInfo?.name, "Apple Configurator 2")
  })
})
