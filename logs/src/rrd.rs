//! Reading an `.rrd` back with rerun's own decoder: which entity paths and timelines it holds.
//! Used by the tests, and by `regrasp replay` to confirm what it wrote.

use std::collections::BTreeSet;
use std::path::Path;

use re_log_encoding::DecoderApp;
use rerun::log::{Chunk, LogMsg};
use serde::Serialize;

use crate::error::{LogsError, Result};

/// What a recording contains.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct RrdContents {
    /// Messages decoded.
    pub messages: usize,
    /// Entity paths with data (recording store only, blueprint excluded), e.g. `/world/object`.
    pub entity_paths: BTreeSet<String>,
    /// Timelines used.
    pub timelines: BTreeSet<String>,
    /// Whether a blueprint was stored with it.
    pub has_blueprint: bool,
}

/// Decodes `path` completely.
pub fn read_rrd(path: &Path) -> Result<RrdContents> {
    let bad = |message: String| LogsError::Rrd { path: path.to_path_buf(), message };
    let file = std::fs::File::open(path).map_err(|source| LogsError::Io { path: path.to_path_buf(), source })?;
    let decoder = DecoderApp::decode_eager(std::io::BufReader::new(file)).map_err(|e| bad(e.to_string()))?;
    let mut out = RrdContents::default();
    for msg in decoder {
        let msg = msg.map_err(|e| bad(e.to_string()))?;
        out.messages += 1;
        if let LogMsg::ArrowMsg(store, arrow) = &msg {
            if store.kind() == rerun::StoreKind::Blueprint {
                out.has_blueprint = true;
                continue;
            }
            let chunk = Chunk::from_arrow_msg(arrow).map_err(|e| bad(e.to_string()))?;
            out.entity_paths.insert(chunk.entity_path().to_string());
            for t in chunk.timelines().keys() {
                out.timelines.insert(t.to_string());
            }
        }
    }
    Ok(out)
}
