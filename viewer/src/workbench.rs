//! The workbench app: what drives the scene ([`Source`]: live or a stored episode), the key
//! bindings as plain [`Command`]s, the on-screen panel and timeline, the camera and lights, and
//! a scripted screenshot for tests under a virtual display.

use std::path::PathBuf;
use std::sync::Arc;

use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::window::PrimaryWindow;
use nalgebra::Vector3;
use regrasp_sim::scene::{BodyKind, SceneState};

use crate::episodes::Episodes;
use crate::live::Live;
use crate::mirror::{self, BodyIndex, MirrorPlugin, Overlays, SceneFrame};
use crate::orbit::{self, Orbit};

/// What drives the scene.
#[derive(Resource)]
pub enum Source {
    /// A policy acting now.
    Live(Box<Live>),
    /// A stored episode on a timeline.
    Episodes(Box<Episodes>),
}

impl Source {
    /// The frame to show now: a new geometry when the episode changed, else the new state.
    pub fn publish(&self, frame: &mut SceneFrame) {
        let (geometry, state) = match self {
            Source::Live(l) => (l.geometry(), l.state()),
            Source::Episodes(e) => (Arc::clone(&e.playback.geometry), e.state().clone()),
        };
        if Arc::ptr_eq(&geometry, &frame.geometry) {
            frame.state = state;
        } else {
            frame.replace(geometry, state);
        }
    }

    /// A first frame.
    pub fn frame(&self) -> SceneFrame {
        let mut f = SceneFrame::new(Arc::default(), SceneState::default());
        self.publish(&mut f);
        f
    }

    /// The panel's text.
    pub fn describe(&self) -> String {
        match self {
            Source::Live(l) => l.describe(),
            Source::Episodes(e) => e.describe(),
        }
    }

    /// The side panel's text (episode mode: failures by mode).
    pub fn describe_side(&self) -> String {
        match self {
            Source::Live(_) => String::new(),
            Source::Episodes(e) => e.describe_failures(),
        }
    }

    /// Lets `dt_s` seconds of wall time pass.
    pub fn advance(&mut self, dt_s: f64) -> anyhow::Result<()> {
        match self {
            Source::Live(l) => l.advance(dt_s, MAX_STEPS_PER_FRAME).map(|_| ()),
            Source::Episodes(e) => {
                e.advance(dt_s);
                Ok(())
            }
        }
    }
}

/// Most control steps a live simulation takes in one rendered frame (it slows down rather than
/// skipping frames when rendering is slow).
pub const MAX_STEPS_PER_FRAME: u32 = 4;

/// What a key asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Command {
    /// Pause or resume (live), play or stop (episode).
    TogglePlay,
    /// One control step (live) or one state forward (episode).
    Step,
    /// Restart the scenario (live) or go to the first state (episode).
    Reset,
    /// The next scenario (live) or episode (episode).
    Next,
    /// The previous episode (episode mode).
    Previous,
    /// The next failed episode (episode mode).
    NextFailure,
    /// Poke the object along a world direction (live).
    Push(Vec3),
    /// Move the timeline cursor by this many states (episode).
    Scrub(i64),
    /// The last state (episode).
    End,
    /// Show or hide contact points.
    ToggleContacts,
    /// Show or hide contact force arrows.
    ToggleForces,
    /// Show or hide the key help.
    ToggleHelp,
}

/// The key bindings, for the help text.
pub const HELP: &str = "keys: Space play/pause | S step | R reset | N/P next/previous | F next failure\n\
arrows: push object (live) / scrub (episode, Shift x10) | Home/End | PgUp push up\n\
C contacts | V forces | H help | mouse: left orbit, right pan, wheel zoom, click timeline";

/// The commands the keys pressed this frame ask for.
pub fn commands_from_keys(keys: &ButtonInput<KeyCode>, episode_mode: bool) -> Vec<Command> {
    let shift = keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
    let big = if shift { 10 } else { 1 };
    let mut out = Vec::new();
    for k in keys.get_just_pressed() {
        let c = match (k, episode_mode) {
            (KeyCode::Space, _) => Command::TogglePlay,
            (KeyCode::KeyS, _) => Command::Step,
            (KeyCode::KeyR, _) | (KeyCode::Home, _) => Command::Reset,
            (KeyCode::KeyN, _) => Command::Next,
            (KeyCode::KeyP, _) => Command::Previous,
            (KeyCode::KeyF, _) => Command::NextFailure,
            (KeyCode::End, _) => Command::End,
            (KeyCode::KeyC, _) => Command::ToggleContacts,
            (KeyCode::KeyV, _) => Command::ToggleForces,
            (KeyCode::KeyH, _) => Command::ToggleHelp,
            (KeyCode::ArrowRight, true) => Command::Scrub(big),
            (KeyCode::ArrowLeft, true) => Command::Scrub(-big),
            (KeyCode::ArrowUp, true) => Command::Previous,
            (KeyCode::ArrowDown, true) => Command::Next,
            (KeyCode::ArrowRight, false) => Command::Push(Vec3::X),
            (KeyCode::ArrowLeft, false) => Command::Push(Vec3::NEG_X),
            (KeyCode::ArrowUp, false) => Command::Push(Vec3::Y),
            (KeyCode::ArrowDown, false) => Command::Push(Vec3::NEG_Y),
            (KeyCode::PageUp, false) => Command::Push(Vec3::Z),
            _ => continue,
        };
        out.push(c);
    }
    out
}

/// Whether the help text is shown.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShowHelp(pub bool);

/// Carries out one command. Errors (say, a stored episode that no longer replays) leave the
/// source as it was and are shown on the panel.
pub fn apply(cmd: Command, source: &mut Source, overlays: &mut Overlays, help: &mut ShowHelp) -> anyhow::Result<()> {
    match cmd {
        Command::ToggleContacts => overlays.contacts = !overlays.contacts,
        Command::ToggleForces => overlays.forces = !overlays.forces,
        Command::ToggleHelp => help.0 = !help.0,
        _ => {}
    }
    match (source, cmd) {
        (Source::Live(l), Command::TogglePlay) => l.paused = !l.paused,
        (Source::Live(l), Command::Step) => {
            l.paused = true;
            l.step()?;
        }
        (Source::Live(l), Command::Reset) => l.reset()?,
        (Source::Live(l), Command::Next) => l.next_scenario()?,
        (Source::Live(l), Command::Push(d)) => l.push(Vector3::new(d.x as f64, d.y as f64, d.z as f64))?,
        (Source::Episodes(e), Command::TogglePlay) => {
            if e.cursor == e.last() {
                e.cursor = 0;
            }
            e.playing = !e.playing;
        }
        (Source::Episodes(e), Command::Step) => {
            e.playing = false;
            e.scrub(1);
        }
        (Source::Episodes(e), Command::Scrub(d)) => {
            e.playing = false;
            e.scrub(d);
        }
        (Source::Episodes(e), Command::Reset) => e.cursor = 0,
        (Source::Episodes(e), Command::End) => e.cursor = e.last(),
        (Source::Episodes(e), Command::Next | Command::Previous | Command::NextFailure) => {
            let failures_only = cmd == Command::NextFailure;
            if let Some(i) = e.neighbour(cmd != Command::Previous, failures_only) {
                e.select(i)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The last error or notice, shown under the panel.
#[derive(Resource, Default, Debug)]
pub struct Notice(pub String);

/// A scripted screenshot: after `after_frames` rendered frames the window is saved to `path`
/// (PNG) with the pixel positions of the arm's links beside it (`path` with `.json`), and the
/// app exits.
#[derive(Resource, Clone, Debug)]
pub struct Capture {
    /// Where the PNG goes.
    pub path: PathBuf,
    /// Frames to render first.
    pub after_frames: u32,
    frames: u32,
    requested: bool,
}

impl Capture {
    /// A screenshot to `path` after `after_frames` frames.
    pub fn new(path: PathBuf, after_frames: u32) -> Self {
        Self { path, after_frames, frames: 0, requested: false }
    }
}

/// What the capture writes beside the screenshot.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct CaptureInfo {
    /// Image size (physical pixels).
    pub size: [u32; 2],
    /// Centres of the arm links' meshes projected into the image (physical pixels, origin
    /// top left), for links in front of the camera.
    pub link_pixels: Vec<[f32; 2]>,
}

/// The workbench: mirror, camera, lights, panel, timeline, keys, capture.
pub struct WorkbenchPlugin;

/// Marks the panel text.
#[derive(Component)]
struct PanelText;
/// Marks the side panel text.
#[derive(Component)]
struct SideText;
/// Marks the help text.
#[derive(Component)]
struct HelpText;
/// Marks the timeline bar and its cursor.
#[derive(Component)]
struct Timeline;
#[derive(Component)]
struct TimelineCursor;

/// Height of the timeline bar (logical pixels).
const TIMELINE_PX: f32 = 18.0;

impl Plugin for WorkbenchPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(MirrorPlugin)
            .insert_resource(ClearColor(Color::srgb(0.11, 0.12, 0.15)))
            .insert_resource(ShowHelp(true))
            .init_resource::<Notice>()
            .add_systems(Startup, setup)
            .add_systems(
                Update,
                (
                    keys,
                    timeline_mouse,
                    advance,
                    publish,
                    panel,
                    timeline,
                    mirror::draw_contacts,
                    orbit::orbit_camera,
                    capture,
                )
                    .chain(),
            );
    }
}

fn setup(mut commands: Commands, source: Option<Res<Source>>) {
    if let Some(s) = source {
        commands.insert_resource(s.frame());
    }
    let orbit = Orbit::default();
    commands.spawn((Camera3d::default(), Tonemapping::None, orbit.transform(), orbit));
    commands.spawn((
        DirectionalLight { illuminance: 5_000.0, shadow_maps_enabled: true, ..default() },
        Transform::from_xyz(0.6, -0.4, 1.2).looking_at(Vec3::ZERO, Vec3::Z),
    ));
    commands.insert_resource(GlobalAmbientLight { color: Color::WHITE, brightness: 350.0, ..default() });
    commands.spawn((
        PanelText,
        Text::new(""),
        TextFont::from_font_size(FontSize::Px(14.0)),
        TextColor(Color::srgb(0.92, 0.92, 0.95)),
        Node { position_type: PositionType::Absolute, top: Val::Px(8.0), left: Val::Px(10.0), ..default() },
    ));
    commands.spawn((
        SideText,
        Text::new(""),
        TextFont::from_font_size(FontSize::Px(12.0)),
        TextColor(Color::srgb(0.72, 0.84, 1.0)),
        Node { position_type: PositionType::Absolute, top: Val::Px(8.0), right: Val::Px(10.0), ..default() },
    ));
    commands.spawn((
        HelpText,
        Text::new(HELP),
        TextFont::from_font_size(FontSize::Px(12.0)),
        TextColor(Color::srgb(0.7, 0.72, 0.78)),
        Node {
            position_type: PositionType::Absolute,
            bottom: Val::Px(TIMELINE_PX + 10.0),
            left: Val::Px(10.0),
            ..default()
        },
    ));
    commands
        .spawn((
            Timeline,
            Node {
                position_type: PositionType::Absolute,
                bottom: Val::Px(0.0),
                left: Val::Px(0.0),
                width: Val::Percent(100.0),
                height: Val::Px(TIMELINE_PX),
                ..default()
            },
            BackgroundColor(Color::srgb(0.2, 0.21, 0.25)),
            Visibility::Hidden,
        ))
        .with_children(|bar| {
            bar.spawn((
                TimelineCursor,
                Node {
                    position_type: PositionType::Absolute,
                    left: Val::Percent(0.0),
                    width: Val::Px(4.0),
                    height: Val::Percent(100.0),
                    ..default()
                },
                BackgroundColor(Color::srgb(0.95, 0.95, 0.3)),
            ));
        });
}

fn keys(
    keys: Res<ButtonInput<KeyCode>>,
    source: Option<ResMut<Source>>,
    mut overlays: ResMut<Overlays>,
    mut help: ResMut<ShowHelp>,
    mut notice: ResMut<Notice>,
) {
    let Some(mut source) = source else { return };
    let episode_mode = matches!(*source, Source::Episodes(_));
    for cmd in commands_from_keys(&keys, episode_mode) {
        notice.0 = match apply(cmd, &mut source, &mut overlays, &mut help) {
            Ok(()) => String::new(),
            Err(e) => format!("error: {e:#}"),
        };
    }
}

/// A click or drag on the timeline seeks there.
fn timeline_mouse(
    buttons: Res<ButtonInput<MouseButton>>,
    windows: Query<&Window, With<PrimaryWindow>>,
    source: Option<ResMut<Source>>,
) {
    let (Some(mut source), Ok(window)) = (source, windows.single()) else { return };
    let Source::Episodes(e) = &mut *source else { return };
    if !buttons.pressed(MouseButton::Left) {
        return;
    }
    if let Some(p) = window.cursor_position() {
        if p.y >= window.height() - TIMELINE_PX && window.width() > 0.0 {
            e.playing = false;
            e.seek((p.x / window.width()) as f64);
        }
    }
}

fn advance(time: Res<Time>, source: Option<ResMut<Source>>, mut notice: ResMut<Notice>) {
    let Some(mut source) = source else { return };
    if let Err(e) = source.advance(time.delta_secs_f64()) {
        notice.0 = format!("error: {e:#}");
        if let Source::Live(l) = &mut *source {
            l.paused = true;
        }
    }
}

fn publish(source: Option<Res<Source>>, frame: Option<ResMut<SceneFrame>>) {
    if let (Some(source), Some(mut frame)) = (source, frame) {
        source.publish(&mut frame);
    }
}

fn panel(
    source: Option<Res<Source>>,
    notice: Res<Notice>,
    help: Res<ShowHelp>,
    overlays: Res<Overlays>,
    mut panel: Query<&mut Text, (With<PanelText>, Without<SideText>)>,
    mut side: Query<&mut Text, (With<SideText>, Without<PanelText>)>,
    mut help_text: Query<&mut Visibility, With<HelpText>>,
) {
    let Some(source) = source else { return };
    let mut text = source.describe();
    text.push_str(&format!(
        "overlays: contacts {} | forces {}\n",
        if overlays.contacts { "on" } else { "off" },
        if overlays.forces { "on" } else { "off" }
    ));
    if !notice.0.is_empty() {
        text.push('\n');
        text.push_str(&notice.0);
    }
    for mut t in &mut panel {
        if t.0 != text {
            t.0.clone_from(&text);
        }
    }
    let side_text = source.describe_side();
    for mut t in &mut side {
        if t.0 != side_text {
            t.0.clone_from(&side_text);
        }
    }
    for mut v in &mut help_text {
        v.set_if_neq(if help.0 { Visibility::Inherited } else { Visibility::Hidden });
    }
}

fn timeline(
    source: Option<Res<Source>>,
    mut bar: Query<&mut Visibility, With<Timeline>>,
    mut cursor: Query<&mut Node, With<TimelineCursor>>,
) {
    let Some(source) = source else { return };
    let Source::Episodes(e) = &*source else { return };
    for mut v in &mut bar {
        v.set_if_neq(Visibility::Inherited);
    }
    let pct = if e.last() == 0 { 0.0 } else { 100.0 * e.cursor as f32 / e.last() as f32 };
    for mut n in &mut cursor {
        n.left = Val::Percent(pct.min(99.5));
    }
}

fn capture(
    mut commands: Commands,
    capture: Option<ResMut<Capture>>,
    frame: Option<Res<SceneFrame>>,
    windows: Query<&Window, With<PrimaryWindow>>,
    cameras: Query<(&Camera, &GlobalTransform)>,
    bodies: Query<(&BodyIndex, &GlobalTransform)>,
) {
    let (Some(mut capture), Some(frame), Ok(window), Ok((camera, camera_tf))) =
        (capture, frame, windows.single(), cameras.single())
    else {
        return;
    };
    capture.frames += 1;
    if capture.requested || capture.frames < capture.after_frames {
        return;
    }
    capture.requested = true;
    let scale = window.scale_factor();
    let link_pixels = bodies
        .iter()
        .filter_map(|(i, tf)| {
            let body = frame.geometry.bodies.get(i.0)?;
            if body.kind != BodyKind::Link || body.mesh.vertices.is_empty() {
                return None;
            }
            let n = body.mesh.vertices.len() as f32;
            let centre = body.mesh.vertices.iter().fold(Vec3::ZERO, |a, v| a + Vec3::from_array(*v)) / n;
            let p = camera.world_to_viewport(camera_tf, tf.transform_point(centre)).ok()?;
            Some([p.x * scale, p.y * scale])
        })
        .collect();
    let size = [window.physical_width(), window.physical_height()];
    let info = CaptureInfo { size, link_pixels };
    let path = capture.path.clone();
    commands.spawn(Screenshot::primary_window()).observe(
        move |captured: On<ScreenshotCaptured>, mut exit: MessageWriter<AppExit>| {
            let result = captured
                .image
                .clone()
                .try_into_dynamic()
                .map_err(|e| e.to_string())
                .and_then(|img| img.to_rgb8().save(&path).map_err(|e| e.to_string()))
                .and_then(|()| {
                    let json = serde_json::to_string_pretty(&info).map_err(|e| e.to_string())?;
                    std::fs::write(path.with_extension("json"), json).map_err(|e| e.to_string())
                });
            match result {
                Ok(()) => {
                    info!("screenshot saved to {}", path.display());
                    exit.write(AppExit::Success);
                }
                Err(e) => {
                    error!("screenshot {}: {e}", path.display());
                    exit.write(AppExit::from_code(3));
                }
            }
        },
    );
}
