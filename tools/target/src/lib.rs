//! Coverage targets and the exec transport shared by covkill and covpull.
