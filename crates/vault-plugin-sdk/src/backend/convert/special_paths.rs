//! `SpecialPaths` → `pb.Paths`.

use vault_plugin_proto::pb;

use crate::backend::SpecialPaths;

pub(crate) fn to_proto(paths: SpecialPaths) -> pb::Paths {
    pb::Paths {
        root: paths.root,
        unauthenticated: paths.unauthenticated,
        local_storage: paths.local_storage,
        seal_wrap_storage: paths.seal_wrap_storage,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_list_lands_in_its_field() {
        let p = to_proto(SpecialPaths {
            root: vec!["config".into()],
            unauthenticated: vec!["login".into()],
            local_storage: vec!["wal/".into()],
            seal_wrap_storage: vec!["keys/".into()],
        });
        assert_eq!(p.root, ["config"]);
        assert_eq!(p.unauthenticated, ["login"]);
        assert_eq!(p.local_storage, ["wal/"]);
        assert_eq!(p.seal_wrap_storage, ["keys/"]);
        assert!(p.write_forwarded_storage.is_empty());
    }
}
