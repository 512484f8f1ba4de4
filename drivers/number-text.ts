// Numbers as English text for messages ("2,000 W", "1,230 TH/s", "20,000 miners"),
// without Intl. Building any Intl formatter, or calling toLocaleString, makes V8
// read ICU's locale data out of the node binary: about 8 MiB more resident memory
// for the life of the process, for a comma. The output is en-US Intl's: rounding
// works on the shortest decimal that reads back as the number (1.005 → "1.01",
// where toFixed gives "1.00"), halves away from zero.

/** A decimal as digits without leading or trailing zeros, and where the point goes: 0.D × 10^point. */
interface Decimal {
  digits: string;
  point: number;
}

/** A number's shortest decimal (the digits String() gives). */
function decimal(abs: number): Decimal {
  const [mantissa = "0", exp = "0"] = String(abs).split("e");
  const dot = mantissa.indexOf(".");
  const all = dot < 0 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1);
  const lead = all.length - all.replace(/^0+/, "").length;
  const digits = all.slice(lead).replace(/0+$/, "");
  return { digits, point: (dot < 0 ? mantissa.length : dot) - lead + Number(exp) };
}

/** The first `keep` digits, the rest rounded half up (the number has no sign here). */
function roundDigits(d: Decimal, keep: number): Decimal {
  if (keep >= d.digits.length) return d;
  if (keep < 0) return { digits: "", point: 0 };
  let kept = d.digits.slice(0, keep);
  let point = d.point;
  if (d.digits.charCodeAt(keep) >= 53 /* "5" */) {
    let i = kept.length - 1;
    while (i >= 0 && kept[i] === "9") i--;
    if (i < 0) {
      kept = `1${"0".repeat(kept.length)}`;
      point += 1;
    } else {
      kept = kept.slice(0, i) + String(Number(kept[i]) + 1) + "0".repeat(kept.length - i - 1);
    }
  }
  return { digits: kept.replace(/0+$/, ""), point };
}

/** Plain digits with a comma every three places before the point. */
function plain(d: Decimal): string {
  const { digits, point } = d;
  if (digits === "") return "0";
  if (point <= 0) return `0.${"0".repeat(-point)}${digits}`;
  const int = digits.slice(0, point).padEnd(point, "0");
  const frac = digits.slice(point);
  let out = int.slice(0, ((int.length - 1) % 3) + 1);
  for (let i = out.length; i < int.length; i += 3) out += `,${int.slice(i, i + 3)}`;
  return frac === "" ? out : `${out}.${frac}`;
}

const signOf = (n: number) => (n < 0 || Object.is(n, -0) ? "-" : "");

/** With thousands commas and at most `maxFractionDigits` decimals, trailing zeros dropped: 1234.5 → "1,234.5". */
export function formatGrouped(n: number, maxFractionDigits = 3): string {
  if (!Number.isFinite(n)) return String(n);
  const d = decimal(Math.abs(n));
  return signOf(n) + plain(roundDigits(d, d.point + maxFractionDigits));
}

/** Rounded to `digits` significant digits, with thousands commas: 1234.5 → "1,230", 0.012345 → "0.0123". */
export function formatSignificant(n: number, digits: number): string {
  if (!Number.isFinite(n)) return String(n);
  return signOf(n) + plain(roundDigits(decimal(Math.abs(n)), digits));
}
