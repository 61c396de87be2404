import Crypto
import CryptoExtras
import Foundation

/// Djinn's symmetric encryption, byte-compatible with the Go server: the key is
/// PBKDF2-HMAC-SHA256(password: crypto.block, salt: crypto.salt, 4096 rounds, 32 bytes),
/// used with AES-256-GCM whatever the block's length; a sealed value is a 12-byte nonce,
/// the ciphertext and the 16-byte tag, with no additional data.
///
/// Masked variables are stored as base64 of a sealed value; keys, provider tokens and
/// webhook secrets as the raw bytes.
public struct DjinnCipher: Sendable {
    private let key: SymmetricKey

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case blockLength(Int)
        case missingSalt
        case tooShort(Int)
        case authentication
        case base64

        public var description: String {
            switch self {
            case .blockLength: return "crypto block must be 16, 24, or 32 characters in length"
            case .missingSalt: return "crypto salt is required for AES-GCM encryption"
            case .tooShort(let n): return "encrypted value too short (\(n) bytes)"
            case .authentication: return "encrypted value failed authentication (wrong crypto block or salt, or corrupt data)"
            case .base64: return "encrypted value is not valid base64"
            }
        }
    }

    /// Rounds Go Djinn uses. Below CryptoExtras' recommended minimum, but the stored
    /// ciphertexts were made with it, so compatibility decides.
    static let rounds = 4096

    public init(block: String, salt: String) throws(Failure) {
        guard [16, 24, 32].contains(block.utf8.count) else { throw .blockLength(block.utf8.count) }
        guard !salt.isEmpty else { throw .missingSalt }
        do {
            key = try KDF.Insecure.PBKDF2.deriveKey(
                from: Array(block.utf8), salt: Array(salt.utf8), using: .sha256,
                outputByteCount: 32, unsafeUncheckedRounds: Self.rounds)
        } catch {
            // Only reachable with invalid parameters, which the checks above exclude.
            throw .authentication
        }
    }

    /// Opens a sealed value (nonce ‖ ciphertext ‖ tag).
    public func decrypt(_ sealed: [UInt8]) throws(Failure) -> [UInt8] {
        guard sealed.count >= 12 + 16 else { throw .tooShort(sealed.count) }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return Array(try AES.GCM.open(box, using: key))
        } catch {
            throw .authentication
        }
    }

    /// Opens a base64 text holding a sealed value (how masked variables are stored).
    public func decrypt(base64 text: String) throws(Failure) -> [UInt8] {
        guard let data = Data(base64Encoded: text) else { throw .base64 }
        return try decrypt(Array(data))
    }

    /// Seals `plaintext` with a fresh random nonce.
    public func encrypt(_ plaintext: [UInt8]) -> [UInt8] {
        // Sealing with a valid key and a fresh nonce cannot fail.
        let box = try! AES.GCM.seal(plaintext, using: key, nonce: AES.GCM.Nonce())
        return Array(box.combined!)
    }

    /// Seals with a given nonce: for fixtures only (a nonce must never be reused).
    func encrypt(_ plaintext: [UInt8], nonce: [UInt8]) throws -> [UInt8] {
        let box = try AES.GCM.seal(plaintext, using: key, nonce: AES.GCM.Nonce(data: nonce))
        return Array(box.combined!)
    }

    public func encryptBase64(_ plaintext: [UInt8]) -> String {
        Data(encrypt(plaintext)).base64EncodedString()
    }
}
