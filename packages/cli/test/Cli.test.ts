import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Cli from "../src/Cli.js"

describe("Cli.splitFlagValues", () => {
  it("splits --flag=value at the first =, up to --, and leaves everything else alone", () => {
    assert.deepStrictEqual(
      Cli.splitFlagValues(["list", "--adam-id=1", "-q", "--since=a=b==", "--empty=", "users", "--", "--x=y"]),
      ["list", "--adam-id", "1", "-q", "--since", "a=b==", "--empty=", "users", "--", "--x=y"]
    )
  })
})

describe("Cli.checkFlagValues", () => {
  const right = (args: ReadonlyArray<string>) => {
    const checked = Cli.checkFlagValues(args)
    assert.isTrue(Either.isRight(checked), JSON.stringify(checked))
    return Either.getOrThrow(checked)
  }
  const left = (args: ReadonlyArray<string>) => Either.getLeft(Cli.checkFlagValues(args)).pipe(Option.getOrThrow)

  it("a boolean filter flag without true or false after it means true; with one, it keeps it", () => {
    assert.deepStrictEqual(right(["list", "users", "--active-only"]), ["list", "users", "--active-only", "true"])
    assert.deepStrictEqual(right(["list", "--active-only", "--format", "csv", "users"]), [
      "list",
      "--active-only",
      "true",
      "--format",
      "csv",
      "users"
    ])
    assert.deepStrictEqual(right(["list", "assets", "--revocable", "false", "-q"]), ["list", "assets", "--revocable", "false", "-q"])
    // any other word is left as its value, for the filter's own check ("expected true or false")
    assert.deepStrictEqual(right(["list", "assets", "--revocable", "maybe"]), ["list", "assets", "--revocable", "maybe"])
  })

  it("a flag that takes a value: missing, empty or a flag in its place is refused, naming the flag", () => {
    assert.strictEqual(left(["list", "assets", "--adam-id"]), "--adam-id: expected a value after it")
    assert.strictEqual(left(["list", "assets", "--adam-id", " "]), "--adam-id: expected a value, got an empty one")
    assert.strictEqual(left(["list", "users", "--since", "--quiet"]), "--since: expected a value, got the flag --quiet")
    assert.strictEqual(left(["sync", "--resources", ""]), "--resources: expected a value, got an empty one")
    assert.strictEqual(left(["sync", "--db"]), "--db: expected a value after it")
    assert.deepStrictEqual(right(["sync", "--resources", "users", "--full"]), ["sync", "--resources", "users", "--full"])
  })

  it("leaves alone what comes before the command and after --", () => {
    assert.deepStrictEqual(right(["--help"]), ["--help"])
    assert.deepStrictEqual(right(["list", "users", "--", "--since"]), ["list", "users", "--", "--since"])
  })
})

describe("Cli.route", () => {
  it("version, help <command>, and --help with the command (and list's resource) on the line", () => {
    for (const args of [["-V"], ["--version"], ["version"]]) assert.deepStrictEqual(Cli.route(args), { _tag: "Version" })
    assert.deepStrictEqual(Cli.route(["help"]), { _tag: "Help", words: [] })
    assert.deepStrictEqual(Cli.route(["help", "list", "users"]), { _tag: "Help", words: ["list", "users"] })
    assert.deepStrictEqual(Cli.route(["--help"]), { _tag: "Help", words: [] })
    assert.deepStrictEqual(Cli.route(["sync", "-h"]), { _tag: "Help", words: ["sync"] })
    assert.deepStrictEqual(Cli.route(["list", "--format", "csv", "users", "--help"]), { _tag: "Help", words: ["list", "users"] })
    // `users` as the value of --since is not the resource
    assert.deepStrictEqual(Cli.route(["list", "--since", "users", "--help"]), { _tag: "Help", words: ["list"] })
    // after --, --help is an argument
    assert.deepStrictEqual(Cli.route(["list", "users", "--", "--help"]), { _tag: "Run", args: ["list", "users", "--", "--help"] })
  })
})

describe("Cli.helpText", () => {
  it("colour only when asked for; an unknown resource is refused with a suggestion", () => {
    const plain = Either.getOrThrow(Cli.helpText(["list", "users"], { color: false, width: 80 }))
    const coloured = Either.getOrThrow(Cli.helpText(["list", "users"], { color: true, width: 80 }))
    assert.notInclude(plain, "\u001b[")
    assert.include(coloured, "\u001b[1mUsage:\u001b[0m")
    assert.strictEqual(coloured.replace(/\u001b\[[0-9;]*m/g, ""), plain)
    assert.include(Either.getLeft(Cli.helpText(["list", "user"], { color: false, width: 80 })).pipe(Option.getOrThrow), "did you mean users?")
  })
})
