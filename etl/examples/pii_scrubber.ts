// Example ETL module (AssemblyScript): masks e-mail addresses as "[email]" and runs of 8 or more
// digits (card, account and phone numbers) as "[number]" before the record is stored.
import { emitString, readString } from "../assemblyscript/rustmq";
export { alloc } from "../assemblyscript/rustmq";

function isDigit(c: i32): bool {
  return c >= 48 && c <= 57;
}

// Characters that may appear in an e-mail address around the '@'.
function isMailChar(c: i32): bool {
  return isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 46 || c == 45 ||
    c == 95 || c == 43;
}

function scrub(s: string): string {
  let out = "";
  let i = 0;
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (isMailChar(c)) {
      let j = i;
      while (j < n && (isMailChar(s.charCodeAt(j)) || s.charCodeAt(j) == 64)) j++;
      const word = s.substring(i, j);
      let digits = 0;
      for (let k = 0; k < word.length; k++) if (isDigit(word.charCodeAt(k))) digits++;
      if (word.includes("@") && word.indexOf("@") > 0 && word.indexOf("@") < word.length - 1) {
        out += "[email]";
      } else if (digits >= 8 && digits == word.length) {
        out += "[number]";
      } else {
        out += word;
      }
      i = j;
    } else {
      out += String.fromCharCode(c);
      i++;
    }
  }
  return out;
}

export function transform(kp: i32, kl: i32, vp: i32, vl: i32): i32 {
  const value = readString(vp, vl);
  emitString(readString(kp, kl), value == null ? null : scrub(value));
  return 0;
}
