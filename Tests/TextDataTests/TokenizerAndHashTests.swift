import Foundation
import TestSupport
import Testing
@testable import TextData

@Suite struct SHA256Tests {
    @Test func knownVectors() {
        // FIPS 180-4 examples plus the 56-byte message whose padding spills into a second block.
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func incrementalUpdatesMatchOneShot() {
        let data = Fixture.bytes(1000, seed: 3)
        let whole = SHA256.hex(data)
        for cut in [0, 1, 55, 56, 63, 64, 65, 127, 500, 999] {
            var h = SHA256()
            h.update(data[..<cut])
            h.update(data[cut...])
            #expect(h.finalizeHex() == whole, "split at \(cut)")
        }
    }
}

@Suite struct TokenizerTests {
    @Test func byteTokenizerRoundTripsAnyBytes() {
        let t: any Tokenizer = ByteTokenizer()
        #expect(t.vocabSize == 256)
        #expect(t.name == "byte")
        let all = (0...255).map { UInt8($0) } + Fixture.bytes(5000, seed: 1)  // mostly invalid UTF-8
        let ids = t.encode(all)
        #expect(ids.count == all.count)
        #expect(ids.allSatisfy { $0 < 256 })
        #expect(ids == all.map { UInt16($0) })
        #expect(t.decode(ids) == all)
    }

    @Test func textRoundTripIncludingMultibyteCharacters() {
        let t = ByteTokenizer()
        let text = "O Romeo, Romeo! — wherefore art thou Roméo? 🌹\n"
        let ids = t.encode(text)
        #expect(ids.count == text.utf8.count)
        #expect(t.decodeText(ids) == text)
    }

    @Test func registryKnowsByteAndRejectsOthers() throws {
        #expect(try Tokenizers.named("byte").vocabSize == 256)
        #expect(throws: CorpusError.self) { try Tokenizers.named("bpe-9000") }
    }
}
