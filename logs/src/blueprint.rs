//! The default blueprint: the 3D scene beside the episode's actions, value and reward, its
//! outcome log, and tabs for training and self-improvement scalars.

use rerun::blueprint::{
    BarChartView, Blueprint, ContainerLike, Horizontal, Spatial3DView, Tabs, TextLogView, TimeSeriesView, Vertical,
};

use crate::paths;

/// The layout a recording opens with (the viewer may still be rearranged by hand).
pub fn default_blueprint() -> Blueprint {
    let scene: ContainerLike = Spatial3DView::new("scene").with_origin(paths::WORLD).into();
    let episode = Vertical::new([
        TimeSeriesView::new("action: taken and policy mean (normalised)").with_origin(paths::ACTION).into(),
        TimeSeriesView::new("action std").with_origin(paths::ACTION_STD).into(),
        TimeSeriesView::new("value and reward").with_origin(paths::EPISODE_SIGNALS).into(),
        TextLogView::new("outcomes").with_origin(paths::OUTCOME).into(),
    ])
    .with_name("episode");
    let training = Vertical::new([
        TimeSeriesView::new("training: success and return").with_origin(paths::TRAIN_PROGRESS).into(),
        TimeSeriesView::new("training: losses and entropy").with_origin(paths::TRAIN_LOSSES).into(),
        TimeSeriesView::new("training: throughput").with_origin(paths::TRAIN_SPEED).into(),
    ])
    .with_name("training");
    let improve = Vertical::new([
        TimeSeriesView::new("champion success").with_origin(paths::IMPROVE_SUCCESS).into(),
        TimeSeriesView::new("champion failures per mode").with_origin(paths::IMPROVE_FAILURES).into(),
        Horizontal::new([
            BarChartView::new("curriculum").with_origin(paths::IMPROVE_CURRICULUM).into(),
            TextLogView::new("decisions").with_origin(paths::IMPROVE_DECISIONS).into(),
        ])
        .into(),
    ])
    .with_name("self-improvement");
    let hardware = Vertical::new([
        TimeSeriesView::new("joints: commanded vs measured").with_origin(paths::HW_JOINTS).into(),
        TextLogView::new("interventions and faults").with_origin(paths::HW_EVENTS).into(),
    ])
    .with_name("hardware");
    let side: ContainerLike = Tabs::new([episode.into(), training.into(), improve.into(), hardware.into()]).into();
    Blueprint::new(Horizontal::new([scene, side]).with_column_shares([0.55, 0.45]))
}
