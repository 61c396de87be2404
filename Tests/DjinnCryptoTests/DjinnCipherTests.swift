import Foundation
import Testing
@testable import DjinnCrypto

/// Vectors made independently with Python's `cryptography` (PBKDF2HMAC SHA-256, 4096
/// rounds, 32 bytes; AESGCM with nonce 00…0b), so the derivation and layout match Go's.
@Suite struct DjinnCipherTests {
    func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    @Test func opensValuesSealedByAnotherImplementation() throws {
        let cipher = try DjinnCipher(block: "1a2b3c4d5e6f7g8h", salt: "1a2b3c4d5e6f7g8h")
        let sealed = hex("000102030405060708090a0b5db926f99cb7ff4ed480a01c70579f07c3e7d8089846b2f5fb494b8a")
        #expect(try cipher.decrypt(sealed) == Array("s3cr3t-value".utf8))
        #expect(try cipher.decrypt(base64: "AAECAwQFBgcICQoLXbkm+Zy3/07UgKAccFefB8Pn2AiYRrL1+0lLig==") == Array("s3cr3t-value".utf8))
        // A 32-byte block still gives AES-256 with the same layout.
        let other = try DjinnCipher(block: "0123456789abcdef0123456789abcdef", salt: "pepper")
        #expect(try other.decrypt(base64: "AAECAwQFBgcICQoLyhxL/EIN2kac1rdZ1QBVz0EYIxkTwkr9TwJT2w==") == Array("s3cr3t-value".utf8))
    }

    @Test func sealsTheSameBytesAsAnotherImplementation() throws {
        let cipher = try DjinnCipher(block: "1a2b3c4d5e6f7g8h", salt: "1a2b3c4d5e6f7g8h")
        let sealed = try cipher.encrypt(Array("s3cr3t-value".utf8), nonce: Array(0..<12))
        #expect(sealed == hex("000102030405060708090a0b5db926f99cb7ff4ed480a01c70579f07c3e7d8089846b2f5fb494b8a"))
    }

    @Test func roundTripsWithFreshNonces() throws {
        let cipher = try DjinnCipher(block: "123456789012345678901234", salt: "s")
        let a = cipher.encrypt(Array("hello".utf8))
        let b = cipher.encrypt(Array("hello".utf8))
        #expect(a != b)
        #expect(try cipher.decrypt(a) == Array("hello".utf8))
        #expect(try cipher.decrypt(base64: cipher.encryptBase64([])) == [])
    }

    @Test func wrongKeyCorruptionAndBadInputAreErrors() throws {
        let cipher = try DjinnCipher(block: "1a2b3c4d5e6f7g8h", salt: "1a2b3c4d5e6f7g8h")
        let wrong = try DjinnCipher(block: "1a2b3c4d5e6f7g8h", salt: "other")
        var sealed = cipher.encrypt(Array("x".utf8))
        #expect(throws: DjinnCipher.Failure.authentication) { try wrong.decrypt(sealed) }
        sealed[sealed.count - 1] ^= 1
        #expect(throws: DjinnCipher.Failure.authentication) { try cipher.decrypt(sealed) }
        #expect(throws: DjinnCipher.Failure.tooShort(5)) { try cipher.decrypt([1, 2, 3, 4, 5]) }
        #expect(throws: DjinnCipher.Failure.base64) { try cipher.decrypt(base64: "not base64!") }
        #expect(throws: DjinnCipher.Failure.blockLength(5)) { try DjinnCipher(block: "short", salt: "s") }
        #expect(throws: DjinnCipher.Failure.missingSalt) { try DjinnCipher(block: "1a2b3c4d5e6f7g8h", salt: "") }
    }
}
