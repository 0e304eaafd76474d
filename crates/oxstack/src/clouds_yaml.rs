//! `oxstack clouds-yaml`: a ready `clouds.yaml` for the configured cloud, so
//! `openstack --os-cloud oxstack ...` works with no other set-up.

use crate::config::Config;

/// YAML for the admin cloud (`oxstack`) and the demo cloud (`oxstack-demo`).
pub fn render(config: &Config) -> String {
    let url = config.client_url();
    let b = &config.bootstrap;
    let cloud = |name: &str, user: &str, password: &str, project: &str| {
        format!(
            "  {name}:\n    auth:\n      auth_url: {url}/identity\n      username: {}\n      password: {}\n      \
             project_name: {}\n      user_domain_name: Default\n      project_domain_name: Default\n    \
             region_name: {}\n    identity_api_version: 3\n    interface: public\n",
            quote(user),
            quote(password),
            quote(project),
            quote(&config.region),
        )
    };
    format!(
        "clouds:\n{}{}",
        cloud(
            "oxstack",
            &b.admin_user,
            &b.admin_password,
            &b.admin_project
        ),
        cloud(
            "oxstack-demo",
            &b.demo_user,
            &b.demo_password,
            &b.demo_project
        ),
    )
}

/// A YAML double-quoted scalar.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigArgs;

    #[test]
    fn renders_both_clouds() {
        let config = Config::load(&ConfigArgs {
            listen: Some("0.0.0.0:8080".into()),
            ..Default::default()
        })
        .unwrap();
        let yaml = render(&config);
        assert!(yaml.starts_with("clouds:\n  oxstack:\n"));
        assert!(yaml.contains("auth_url: http://127.0.0.1:8080/identity"));
        assert!(yaml.contains("  oxstack-demo:\n"));
        assert!(yaml.contains("username: \"demo\""));
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
    }
}
