import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as FastCheck from "effect/FastCheck"
import * as Redacted from "effect/Redacted"
import * as SToken from "../src/SToken.js"

// Apple's verbatim example (spec §1.2, MJ getting-started-with-the-management-api.md).
const appleExample =
  "ewogICAgInRva2VuIjogIlZGZHdRbVZWTVZSUldGSktVbGRTTlZkc1pHcGpNR3hIVTI1Q2FrMXRhRzlhUjJ3eldqRkdkVk50ZUd0VFJrWjZVMVZhVDJGSFRuUlNiVGxOVVRCS1ExcEdhRTlOUjBaWVRrUXdQUT09IiwKICAgICJleHBEYXRlIjogIjIwMzAtMTEtMDhUMjI6MzM6MjIrMDAwMCIsCiAgICAib3JnTmFtZSI6ICJPUkcxMjM0NSIKfQ=="

const encode = (json: unknown): string => Encoding.encodeBase64(JSON.stringify(json))

const tokenWithDate = (expDate: string): string => encode({ token: "secret-part", expDate, orgName: "Dated Org" })

const decodeOrThrow = (text: string): SToken.SToken => {
  const result = SToken.decode(text)
  if (Either.isLeft(result)) throw new Error(`expected a valid token, got: ${result.left.message}`)
  return result.right
}

const decodeError = (text: string): SToken.InvalidTokenError => {
  const result = SToken.decode(text)
  if (Either.isRight(result)) throw new Error("expected InvalidTokenError, got a token")
  return result.left
}

describe("SToken.decode", () => {
  it("reads orgName and expiry from Apple's example token offline", () => {
    const token = decodeOrThrow(appleExample)
    assert.strictEqual(token.orgName, "ORG12345")
    assert.strictEqual(token.expiresAt.toISOString(), "2030-11-08T22:33:22.000Z")
    // The whole Base64 text is what goes to Apple, not the inner `token` field.
    assert.strictEqual(Redacted.value(token.value), appleExample)
    assert.notInclude(String(token.value), appleExample)
  })

  it("accepts white space and newlines around the token (a downloaded .vpptoken file)", () => {
    for (const text of [`${appleExample}\n`, `  ${appleExample}\r\n`, `\n\t${appleExample}  \n\n`]) {
      const token = decodeOrThrow(text)
      assert.strictEqual(token.orgName, "ORG12345")
      assert.strictEqual(Redacted.value(token.value), appleExample)
    }
  })

  it("reads both Apple expDate formats and RFC 3339", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["2030-11-08T22:33:22+0000", "2030-11-08T22:33:22.000Z"],
      ["2014-08-15T18:13:52-0700", "2014-08-16T01:13:52.000Z"],
      ["2030-11-08T22:33:22+00:00", "2030-11-08T22:33:22.000Z"],
      ["2030-11-08T22:33:22Z", "2030-11-08T22:33:22.000Z"],
      ["2030-11-08T23:33:22+01:00", "2030-11-08T22:33:22.000Z"],
      ["2030-11-08T22:33:22.250Z", "2030-11-08T22:33:22.250Z"]
    ]
    for (const [expDate, iso] of cases) {
      assert.strictEqual(decodeOrThrow(tokenWithDate(expDate)).expiresAt.toISOString(), iso, expDate)
    }
  })

  it("rejects malformed input with InvalidTokenError that never quotes the input", () => {
    const secretish = "TOPSECRET-token-material"
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["empty", ""],
      ["blank", "   \n "],
      ["not Base64", `${secretish}!!`],
      ["not Base64 (length)", "QUJD" + "QQ"], // "ABC" + a broken quantum
      ["Base64 of non-JSON", Encoding.encodeBase64(`plain text ${secretish}`)],
      ["JSON without the fields", encode({ token: secretish })],
      ["JSON of the wrong types", encode({ token: secretish, expDate: 20301108, orgName: "x" })],
      ["a JSON array", encode([secretish])],
      ["a bad date", encode({ token: secretish, expDate: "next tuesday", orgName: "Org" })],
      ["an impossible month", encode({ token: secretish, expDate: "2030-13-08T22:33:22+0000", orgName: "Org" })]
    ]
    for (const [name, text] of cases) {
      const error = decodeError(text)
      assert.instanceOf(error, SToken.InvalidTokenError, name)
      assert.strictEqual(error._tag, "InvalidTokenError", name)
      const rendered = [error.message, String(error), JSON.stringify(error)]
      for (const out of rendered) {
        assert.notInclude(out, secretish, name)
        if (text.trim().length > 0) assert.notInclude(out, text.trim(), name)
      }
    }
  })

  it("says what is wrong without quoting the token", () => {
    assert.match(decodeError("").message, /empty/)
    assert.match(decodeError("%%%").message, /Base64/)
    assert.match(decodeError(Encoding.encodeBase64("hello")).message, /JSON/)
    assert.match(decodeError(encode({ orgName: "x" })).message, /token, expDate and orgName/)
    assert.match(decodeError(tokenWithDate("soon")).message, /expDate/)
  })
})

describe("SToken.parseAppleDate", () => {
  it("refuses impossible calendar dates instead of rolling them over", () => {
    for (const text of ["2030-02-31T00:00:00+0000", "2030-13-01T00:00:00Z", "2031-02-29 10:00:00 +0000".replace(" +", "+")]) {
      assert.isUndefined(SToken.parseAppleDate(text), text)
    }
    assert.strictEqual(SToken.parseAppleDate("2032-02-29T10:00:00+0000")?.toISOString(), "2032-02-29T10:00:00.000Z")
  })
})

describe("SToken.make", () => {
  // Years 0000–9999 only: beyond them ISO strings carry a sign and a six-digit year.
  const expiry = FastCheck.date({ min: new Date("1970-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true })

  it.prop(
    "round-trips through decode",
    { secret: FastCheck.string({ unit: "binary" }), orgName: FastCheck.string({ unit: "binary" }), expiresAt: expiry },
    ({ expiresAt, orgName, secret }) => {
      const made = SToken.make({ secret, orgName, expiresAt })
      const raw = Redacted.value(made.value)
      const decoded = decodeOrThrow(raw)
      assert.strictEqual(Redacted.value(decoded.value), raw)
      assert.strictEqual(decoded.orgName, orgName)
      assert.strictEqual(made.orgName, orgName)
      // The token made and the token read back agree on the expiry, to the second Apple's format carries.
      assert.strictEqual(decoded.expiresAt.getTime(), made.expiresAt.getTime())
      assert.strictEqual(Math.floor(expiresAt.getTime() / 1000) * 1000, decoded.expiresAt.getTime())
      // The inner JSON carries the secret in Apple's expDate format.
      const inner = JSON.parse(Either.getOrThrow(Encoding.decodeBase64String(raw)))
      assert.strictEqual(inner.token, secret)
      assert.match(inner.expDate, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+0000$/)
    }
  )

  it("never shows the secret when printed", () => {
    const token = SToken.make({ secret: "CANARY-SECRET-1234", orgName: "Org", expiresAt: new Date("2031-01-01T00:00:00Z") })
    const raw = Redacted.value(token.value)
    for (const out of [String(token.value), JSON.stringify(token), `${token.value}`]) {
      assert.notInclude(out, raw)
      assert.notInclude(out, "CANARY-SECRET-1234")
    }
  })
})

describe("SToken.daysLeft / isExpired", () => {
  const token = SToken.make({ secret: "s", orgName: "Org", expiresAt: new Date("2030-11-08T22:33:22Z") })
  const at = (iso: string) => new Date(iso)

  it("counts whole days left, negative once expired", () => {
    assert.strictEqual(SToken.daysLeft(token, at("2030-11-08T22:33:22Z")), 0)
    assert.strictEqual(SToken.daysLeft(token, at("2030-11-07T22:33:22Z")), 1)
    assert.strictEqual(SToken.daysLeft(token, at("2030-11-07T10:00:00Z")), 1)
    assert.strictEqual(SToken.daysLeft(token, at("2030-10-24T22:33:22Z")), 15)
    assert.strictEqual(SToken.daysLeft(token, at("2030-11-08T22:33:23Z")), -1)
    assert.strictEqual(SToken.daysLeft(token, at("2030-11-10T22:33:22Z")), -2)
  })

  it("is expired from the expiry instant on", () => {
    assert.isFalse(SToken.isExpired(token, at("2030-11-08T22:33:21.999Z")))
    assert.isTrue(SToken.isExpired(token, at("2030-11-08T22:33:22Z")))
    assert.isTrue(SToken.isExpired(token, at("2031-01-01T00:00:00Z")))
    assert.isFalse(SToken.isExpired(token, at("2020-01-01T00:00:00Z")))
  })
})
