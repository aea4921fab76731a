import Foundation

/// Error messages are one line (`file:line: problem`), but they quote file contents and user input
/// that may hold newlines, NULs or megabytes of text. Everything quoted goes through here.
public enum OneLine {
    /// `text` with control characters and line separators escaped (`\n`, `\0`, `\u{85}`), so it
    /// prints as one line and shows what was really there.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        for u in text.unicodeScalars {
            guard needsEscape(u) else {
                out.unicodeScalars.append(u)
                continue
            }
            switch u {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\0": out += "\\0"
            default: out += "\\u{\(String(u.value, radix: 16))}"
            }
        }
        return out
    }

    /// Escaped and cut to `limit` characters (with `…`): a value quoted in a message.
    public static func quoted(_ text: String, limit: Int = 60) -> String {
        let cut = text.count > limit ? String(text.prefix(limit)) + "…" : text
        return escaped(cut)
    }

    private static func needsEscape(_ u: Unicode.Scalar) -> Bool {
        u.value < 0x20 || (0x7F...0x9F).contains(u.value) || u.value == 0x2028 || u.value == 0x2029
    }
}
