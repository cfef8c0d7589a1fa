/** Small helpers for figures. */

export const best = (values: ReadonlyArray<number>): number => Math.min(...values)

export const ms = (millis: number): string => `${Math.round(millis).toLocaleString("en-US")} ms`

export const perSecond = (count: number, millis: number): number => (count / millis) * 1000

export const rate = (value: number, unit: string): string =>
  `${Math.round(value).toLocaleString("en-US")} ${unit}/s`

export const ratio = (value: number): string => `${value.toFixed(2)}×`

export const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MB`

export const count = (n: number): string => n.toLocaleString("en-US")
