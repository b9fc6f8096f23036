//! An orbit camera for a Z-up world: it looks at a target from a yaw, pitch and distance.
//! Left drag orbits, right drag pans, the wheel zooms.

use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll, MouseScrollUnit};
use bevy::prelude::*;

/// Where the camera looks from.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct Orbit {
    /// The point looked at (m, world).
    pub target: Vec3,
    /// Angle about +Z of the eye, from +X (rad).
    pub yaw: f32,
    /// Elevation of the eye above the target's horizontal plane (rad), within ±[`MAX_PITCH`].
    pub pitch: f32,
    /// Eye distance from the target (m), within [`DISTANCE_RANGE`].
    pub distance: f32,
}

/// Largest elevation (rad): just short of straight down or up, where the view would flip.
pub const MAX_PITCH: f32 = 1.5;
/// Allowed eye distances (m).
pub const DISTANCE_RANGE: (f32, f32) = (0.15, 5.0);
/// Orbit speed (rad per pixel of drag).
pub const RAD_PER_PIXEL: f32 = 0.006;

impl Default for Orbit {
    /// Looking at the workspace in front of the arm from the front-left, above the table.
    fn default() -> Self {
        Self { target: Vec3::new(0.18, 0.0, 0.08), yaw: -2.3, pitch: 0.45, distance: 0.95 }
    }
}

impl Orbit {
    /// The eye position (m, world).
    pub fn eye(&self) -> Vec3 {
        let (sy, cy) = self.yaw.sin_cos();
        let (sp, cp) = self.pitch.sin_cos();
        self.target + self.distance * Vec3::new(cp * cy, cp * sy, sp)
    }

    /// The camera transform: at the eye, looking at the target, +Z up.
    pub fn transform(&self) -> Transform {
        Transform::from_translation(self.eye()).looking_at(self.target, Vec3::Z)
    }

    /// Orbits by a drag of `delta` pixels.
    pub fn rotate(&mut self, delta: Vec2) {
        self.yaw -= delta.x * RAD_PER_PIXEL;
        self.pitch = (self.pitch + delta.y * RAD_PER_PIXEL).clamp(-MAX_PITCH, MAX_PITCH);
    }

    /// Zooms by `lines` wheel lines (positive: closer), 10 % per line.
    pub fn zoom(&mut self, lines: f32) {
        self.distance = (self.distance * (-0.1 * lines).exp()).clamp(DISTANCE_RANGE.0, DISTANCE_RANGE.1);
    }

    /// Pans the target in the view plane by a drag of `delta` pixels (1 pixel ≈ distance/1000).
    pub fn pan(&mut self, delta: Vec2) {
        let t = self.transform();
        let scale = self.distance / 1000.0;
        self.target += (t.left() * delta.x + t.up() * delta.y) * scale;
    }
}

/// Applies mouse drags and the wheel to every orbit camera.
pub fn orbit_camera(
    buttons: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    mut cameras: Query<(&mut Orbit, &mut Transform)>,
) {
    for (mut orbit, mut t) in &mut cameras {
        let before = *orbit;
        if buttons.pressed(MouseButton::Left) {
            orbit.rotate(motion.delta);
        }
        if buttons.pressed(MouseButton::Right) || buttons.pressed(MouseButton::Middle) {
            orbit.pan(motion.delta);
        }
        let lines = match scroll.unit {
            MouseScrollUnit::Line => scroll.delta.y,
            MouseScrollUnit::Pixel => scroll.delta.y / 40.0,
        };
        if lines != 0.0 {
            orbit.zoom(lines);
        }
        if *orbit != before || *t != orbit.transform() {
            *t = orbit.transform();
        }
    }
}
