import Foundation

/// A corpus shipped in Debian packages, pinned by each .deb's SHA-256 and by the checksum of the
/// texts decoded from them. The first package holds the text; any others hold the tool that
/// decodes it (run from the unpacked package, never installed). The committed copy lives in
/// `data/corpora/<name>.json`; the built-ins below must match it (a test checks).
public struct DebianCorpusManifest: Sendable, Codable, Equatable {
    public struct Package: Sendable, Codable, Equatable {
        public var package: String
        public var version: String
        /// `all`, or the one architecture whose build is pinned (a tool the decoder runs).
        public var architecture: String
        /// SHA-256 of the .deb.
        public var sha256: String

        public init(package: String, version: String, architecture: String, sha256: String) {
            self.package = package
            self.version = version
            self.architecture = architecture
            self.sha256 = sha256
        }

        /// What `apt-get download` saves (an epoch's colon is written `%3a`).
        public var deb: String { "\(package)_\(version.replacingOccurrences(of: ":", with: "%3a"))_\(architecture).deb" }
        /// What `apt-get download` is asked for.
        public var request: String { "\(package)=\(version)" }
    }

    /// How the packages become text files (see `DebianDecoder`).
    public enum Decoder: String, Sendable, Codable {
        /// `usr/share/dictd/gcide.{dict.dz,index}` → `gcide.txt` (`GCIDEText`).
        case gcide
        /// `usr/lib/bible.data` read by the package's own `usr/bin/bible` → `kjv.txt`.
        case bibleKJV = "bible-kjv"
    }

    public var name: String
    public var packages: [Package]
    public var decoder: Decoder
    /// Count and total size of the decoded text files.
    public var files: Int
    public var bytes: Int
    /// `Corpus.checksum` of the decoded texts: a change of decoder or tool output shows here.
    public var textsSha256: String
    public var licence: String
    /// Files inside the packages kept beside the texts in `about/`.
    public var licenceFiles: [String]
    public var attribution: String

    enum CodingKeys: String, CodingKey {
        case name, packages, decoder, files, bytes, licence, attribution
        case textsSha256 = "texts_sha256", licenceFiles = "licence_files"
    }

    /// The cache folder name: `<package>-<version>` of the text package.
    public var slug: String { "\(packages[0].package)-\(packages[0].version)" }

    /// GCIDE: the 1913 Webster's with WordNet 1.5 additions, as dictd serves it.
    public static let gcide = DebianCorpusManifest(
        name: "gcide",
        packages: [Package(package: "dict-gcide", version: "0.48.5+nmu2", architecture: "all",
                           sha256: "7b0af5cfde3cbdef5e9d6e78f92ec335ced7c2790f37a40f49bebc6f7347ac0f")],
        decoder: .gcide, files: 1, bytes: 39_412_821,
        textsSha256: "67764fdbc1c12e51e798d7e9fe4b517a1755197cde138cde1078cee304d6f2a9",
        licence: "GPL-2.0-or-later", licenceFiles: ["usr/share/doc/dict-gcide/copyright"],
        attribution: "GCIDE, the GNU Collaborative International Dictionary of English 0.48 (from Webster's Revised Unabridged Dictionary, 1913, and WordNet 1.5), edited by Patrick J. Cassidy; Debian package dict-gcide by Robert D. Hilliard and others. GPL 2 or later; see about/copyright and about/gcide-database-info.txt.")

    /// The King James Bible of the Bible Retrieval System, decoded by its own `bible` program.
    public static let bible = DebianCorpusManifest(
        name: "bible",
        packages: [Package(package: "bible-kjv-text", version: "4.38", architecture: "all",
                           sha256: "d61b6aad4c51ba9e2800b825325fa6a09e99a0d02a9bb6dc4724fcc4995a1b7a"),
                   Package(package: "bible-kjv", version: "4.38", architecture: "amd64",
                           sha256: "75a49c032a6efa9faa2beb4a9acb70974380122906329d0e100de36cc88ff02d")],
        decoder: .bibleKJV, files: 1, bytes: 4_298_238,
        textsSha256: "c465bf2f9ff955e39dc606750a9be286b81787b1502d4ff0a2abab7c75b64bf6",
        licence: "public-domain", licenceFiles: ["usr/share/doc/bible-kjv-text/copyright"],
        attribution: "The Authorized (King James) Version of 1611, public domain; text of the Bible Retrieval System by Chip Chapin (1989-93), Debian packages bible-kjv-text and bible-kjv. See about/copyright.")

    public static let builtins = [gcide, bible]
}
